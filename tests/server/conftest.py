"""Server fixtures: the tiny models loaded once, by the names the tests serve them under."""

from __future__ import annotations

import pytest
from server_helpers import server_process

import audiosift


@pytest.fixture(scope="session")
def keywords_clf(ast_model):
    return audiosift.load(str(ast_model), device="cpu")


@pytest.fixture(scope="session")
def speech_clf():
    return audiosift.load("speech")


@pytest.fixture(scope="session")
def sounds_clf(clap_model):
    return audiosift.load(str(clap_model), device="cpu")


@pytest.fixture(scope="session")
def served(keywords_clf, speech_clf, sounds_clf):
    """Already-loaded models by the names the tests serve them under."""
    return {"kw": keywords_clf, "speech": speech_clf, "sounds": sounds_clf}


@pytest.fixture(scope="session")
def live_server(ast_model, clap_model, tmp_path_factory):
    """``audiosift serve`` in a subprocess on a free local port (kw, speech, sounds, and the wake-word
    model as wake); stopped at the end.

    Yields the base URL. The server must stop cleanly on SIGINT (as on Ctrl-C).
    """
    log = tmp_path_factory.mktemp("live_server") / "server.log"
    with server_process(["--model", f"kw={ast_model}", "--model", "speech", "--model", f"sounds={clap_model}",
                         "--model", "wake=wake-word", "--max-upload-mb", "1"], log) as url:
        yield url
