"""One vocabulary across the subcommands (--labels/--labels-file/--template), options offered only
where they apply, and what a user sees besides results: warnings, offline models, quiet loading."""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import warnings

import pytest

import audiosift
from audiosift.cli.main import build_parser, main


def subcommand(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def flags(name: str) -> dict[str, str]:
    """Every option string of a subcommand -> its destination."""
    return {option: action.dest for action in subcommand(name)._actions for option in action.option_strings}


@pytest.mark.parametrize("name", ["classify", "zero-shot", "listen", "evaluate"])
def test_short_flags_mean_the_same_everywhere(name):
    options = flags(name)
    for short, dest in (("-t", "template"), ("-l", "labels"), ("-m", "model"), ("-o", "output"),
                        ("-f", "format")):
        if short in options:
            assert options[short] == dest, (name, short)
    if "--template" in options:
        assert options["-t"] == "template"
    if "--labels" in options:
        assert options["--labels-file"] == "labels_file" and options["-l"] == "labels"


def test_each_command_offers_the_options_that_apply():
    listen = flags("listen")
    for option in ("--labels-file", "--template", "--vad-threshold", "--output", "-o", "--frame-scores"):
        assert option in listen, option
    formats = next(a for a in subcommand("listen")._actions if a.dest == "format").choices
    assert {"events-csv", "audacity", "raven"} <= set(formats)
    assert "-t" in flags("evaluate") and "--labels" not in flags("evaluate")  # evaluate: the dataset's labels
    assert "--labels" in flags("classify") and "--template" not in flags("classify")  # fixed labels: no prompts
    zero_shot = subcommand("zero-shot").format_help()
    for absent in ("--segments", "--speech-only", "--vad-threshold", "keywords", "language"):
        assert absent not in zero_shot, absent


def test_classify_labels_keep_the_model_s_own_scores(audio_dir, ast_model, capsys, cli_error):
    clip = audio_dir / "yes.wav"
    assert main(["classify", "-m", str(ast_model), "-k", "all", "-f", "jsonl", str(clip)]) == 0
    every = {p["label"]: p["score"] for p in json.loads(capsys.readouterr().out)["predictions"]}
    wanted = sorted(every, key=every.get)[:3]  # the least likely: a subset, not the top
    labels_file = audio_dir.parent / "wanted.txt"
    labels_file.write_text("# the labels to keep\n" + "\n".join(wanted) + "\n")
    for spelling in (["--labels", ",".join(wanted)], ["--labels-file", str(labels_file)]):
        assert main(["classify", "-m", str(ast_model), "-k", "all", "-f", "jsonl", *spelling, str(clip)]) == 0
        kept = json.loads(capsys.readouterr().out)["predictions"]
        assert sorted(p["label"] for p in kept) == sorted(wanted)
        assert all(p["score"] == pytest.approx(every[p["label"]], abs=1e-6) for p in kept)  # not renormalised
    cli_error(["classify", "-m", ast_model, "--labels", "yes,nonsense", clip], "--labels nonsense: not among this model's labels")


def test_one_zero_shot_label_gets_a_warning(audio_dir, clap_model, capsys):
    assert main(["zero-shot", "-m", str(clap_model), "-l", "dog", "-f", "jsonl", str(audio_dir / "yes.wav")]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["predictions"][0]["score"] == pytest.approx(1.0)
    assert "audiosift: warning: only one label ('dog')" in captured.err and "always scores 1.0" in captured.err
    assert main(["zero-shot", "-m", str(clap_model), "-l", "dog,rain", str(audio_dir / "yes.wav")]) == 0
    assert "warning" not in capsys.readouterr().err


def test_mistyped_model_folders_fail_at_once(audio_dir, tmp_path, cli_error):
    cli_error(["classify", "-m", "./typo", audio_dir / "yes.wav"], "no folder './typo' exists")
    cli_error(["evaluate", "-m", "./typo", "-d", "hub/never-opened", "-o", tmp_path / "run"], "no folder './typo'")
    assert not (tmp_path / "run").exists()


def test_models_says_which_work_offline(tmp_path, monkeypatch, capsys):
    import huggingface_hub.constants

    snapshot = tmp_path / "models--MIT--ast-finetuned-speech-commands-v2" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    assert main(["models", "--format", "json"]) == 0
    offline = {m["name"]: m["offline"] for m in json.loads(capsys.readouterr().out)}
    assert offline["keywords"] == "cached" and offline["zero-shot"] == "download"
    assert offline["speech"] == offline["wake-word"] == "builtin"
    real_find_spec = importlib.util.find_spec  # without the wake-word wheels, the listing says so
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pymicro_wakeword" else real_find_spec(name, *a))
    assert main(["models", "--format", "json"]) == 0
    offline = {m["name"]: m["offline"] for m in json.loads(capsys.readouterr().out)}
    assert offline["wake-word-micro"] == "not installed (audiosift[wake-word])" and offline["wake-word"] == "builtin"
    monkeypatch.setattr(importlib.util, "find_spec", real_find_spec)
    assert main(["models"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "OFFLINE" in table[0] and any(line.startswith("keywords") and " cached " in line for line in table)


def test_loading_is_quiet_unless_asked(ast_model, capfd):
    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()  # as a library user's process may have it
    hf_logging.set_verbosity_warning()
    capfd.readouterr()

    def load() -> tuple[str, list[str]]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # a warning shown once already would hide otherwise
            audiosift.load(str(ast_model))
        return capfd.readouterr().err, [str(w.message) for w in caught]

    err, caught = load()
    assert "Loading weights" not in err and not any("mel filter" in message for message in caught)
    assert hf_logging.is_progress_bar_enabled() and hf_logging.get_verbosity() == logging.WARNING  # restored
    logger = logging.getLogger("audiosift")
    logger.setLevel(logging.INFO)
    try:
        err, caught = load()
    finally:
        logger.setLevel(logging.NOTSET)
    assert "Loading weights" in err and any("mel filter" in message for message in caught)


def test_cli_verbose_shows_the_loading(audio_dir, ast_model, capfd):
    assert main(["classify", "-m", str(ast_model), str(audio_dir / "yes.wav")]) == 0
    assert "Loading weights" not in capfd.readouterr().err
    assert main(["classify", "-m", str(ast_model), "--verbose", str(audio_dir / "yes.wav")]) == 0
    assert "Loading weights" in capfd.readouterr().err
    assert logging.getLogger("audiosift").level == logging.NOTSET  # restored after the command


def test_a_labels_file_line_is_one_label_commas_and_all(audio_dir, clap_model, tmp_path, capsys):
    labels_file = tmp_path / "labels.txt"
    labels_file.write_text("dog, barking\nrain\n")
    assert main(["zero-shot", "-m", str(clap_model), "--labels-file", str(labels_file), "-f", "jsonl",
                 str(audio_dir / "yes.wav")]) == 0
    assert {p["label"] for p in json.loads(capsys.readouterr().out)["predictions"]} == {"dog, barking", "rain"}
