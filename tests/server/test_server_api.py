"""The HTTP API: endpoints, response shape, parity with the library, and JSON errors with the right codes."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from server_helpers import app_for

from audiosift.server import ServerConfig, create_app


@pytest.fixture(scope="module")
def client(served):
    with app_for(served) as app, TestClient(app) as test_client:
        yield test_client


def post_file(client, url, path, **form):
    with open(path, "rb") as handle:
        return client.post(url, files={"file": (path.name, handle)}, data=form or None)


def assert_error(response, status: int, *words: str):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == status
    for word in words:
        assert word in body["error"], body["error"]


def test_models_lists_names_kinds_labels_and_rates(client, keywords_clf):
    body = client.get("/v1/models").json()
    by_name = {m["name"]: m for m in body["models"]}
    assert list(by_name) == ["kw", "speech", "sounds"]
    assert by_name["kw"]["kind"] == "classifier" and by_name["kw"]["labels"] == keywords_clf.labels
    assert by_name["kw"]["sampling_rate"] == 16000
    assert by_name["speech"]["labels"] == ["speech", "no_speech"]
    assert by_name["sounds"]["kind"] == "zero-shot" and by_name["sounds"]["sampling_rate"] == 48000
    assert body["limits"]["max_audio_seconds"] == ServerConfig().max_audio_seconds


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok", "models": ["kw", "speech", "sounds"]}


def test_classify_multipart_matches_the_library(client, keywords_clf, audio_dir):
    response = post_file(client, "/v1/classify?model=kw&top_k=3", audio_dir / "yes.wav")
    assert response.status_code == 200, response.text
    body = response.json()
    expected = keywords_clf(audio_dir / "yes.wav", top_k=3)
    assert body["model"] == "kw"
    assert [p["label"] for p in body["predictions"]] == [p["label"] for p in expected]
    np.testing.assert_allclose([p["score"] for p in body["predictions"]], [p["score"] for p in expected], atol=1e-5)
    assert body["duration_s"] == pytest.approx(sf.info(audio_dir / "yes.wav").duration, abs=1e-3)


def test_raw_body_gives_the_same_answer_as_multipart(client, audio_dir):
    data = (audio_dir / "yes.flac").read_bytes()
    raw = client.post("/v1/classify?model=speech", content=data, headers={"content-type": "audio/flac"})
    multipart = post_file(client, "/v1/classify?model=speech", audio_dir / "yes.flac")
    assert raw.status_code == multipart.status_code == 200
    assert raw.json() == multipart.json()
    assert raw.json()["predictions"][0]["label"] == "speech"  # espeak-ng "yes" is speech


def test_browser_recordings_webm_opus_decode(client, speech_clf, audio_dir):
    response = post_file(client, "/v1/classify?model=speech", audio_dir / "yes.webm")
    assert response.status_code == 200, response.text
    expected = speech_clf(audio_dir / "yes.webm")
    assert response.json()["predictions"][0]["score"] == pytest.approx(expected[0]["score"], abs=1e-5)


def test_model_defaults_to_the_first_of_the_endpoints_kind(client, audio_dir):
    assert post_file(client, "/v1/classify", audio_dir / "yes.wav").json()["model"] == "kw"
    assert post_file(client, "/v1/zero-shot", audio_dir / "yes.wav", labels="dog,rain").json()["model"] == "sounds"


def test_top_k_is_respected_and_checked(client, keywords_clf, audio_dir):
    body = post_file(client, "/v1/classify?model=kw&top_k=1000", audio_dir / "tone.wav").json()
    expected = keywords_clf(audio_dir / "tone.wav", top_k=None)  # every label, best first
    assert len(expected) == len(keywords_clf.labels)
    assert [p["label"] for p in body["predictions"]] == [p["label"] for p in expected]
    np.testing.assert_allclose([p["score"] for p in body["predictions"]], [p["score"] for p in expected], atol=1e-5)
    top3 = post_file(client, "/v1/classify?model=kw&top_k=3", audio_dir / "tone.wav").json()["predictions"]
    assert [p["label"] for p in top3] == [p["label"] for p in expected[:3]]
    assert_error(post_file(client, "/v1/classify?model=kw&top_k=0", audio_dir / "tone.wav"), 422, "top_k")
    assert_error(post_file(client, "/v1/classify?model=kw&top_k=many", audio_dir / "tone.wav"), 422, "top_k")


def test_zero_shot_multipart_matches_the_library(client, sounds_clf, audio_dir):
    labels = ["dog", "rain", "speech", "siren"]
    response = post_file(client, "/v1/zero-shot?model=sounds", audio_dir / "yes.wav", labels=", ".join(labels))
    assert response.status_code == 200, response.text
    got = {p["label"]: p["score"] for p in response.json()["predictions"]}
    expected = {p["label"]: p["score"] for p in sounds_clf(audio_dir / "yes.wav", candidate_labels=labels)}
    assert list(got) == list(expected)  # same order, every label (top_k defaults to all)
    np.testing.assert_allclose(list(got.values()), list(expected.values()), atol=1e-5)


def test_zero_shot_raw_body_labels_in_query_json_list_and_templates(client, sounds_clf, audio_dir):
    data = (audio_dir / "yes.wav").read_bytes()
    response = client.post('/v1/zero-shot?labels=["dog", "rain"]&labels=speech&templates=ensemble&top_k=2',
                           content=data, headers={"content-type": "audio/wav"})
    assert response.status_code == 200, response.text
    expected = sounds_clf(audio_dir / "yes.wav", candidate_labels=["dog", "rain", "speech"],
                          hypothesis_template="ensemble", top_k=2)
    got = response.json()["predictions"]
    assert [p["label"] for p in got] == [p["label"] for p in expected]
    np.testing.assert_allclose([p["score"] for p in got], [p["score"] for p in expected], atol=1e-5)


@pytest.mark.parametrize("form, words", [
    ({}, ["labels are required"]),
    ({"labels": " , "}, ["labels are required"]),
    ({"labels": "[1, 2]"}, ["list of strings"]),
    ({"labels": ",".join(f"l{i}" for i in range(101))}, ["101 labels", "at most 100"]),
    ({"labels": "dog", "templates": "no placeholder"}, ["templates", "{}"]),
])
def test_zero_shot_bad_parameters_are_422(client, audio_dir, form, words):
    assert_error(post_file(client, "/v1/zero-shot?model=sounds", audio_dir / "yes.wav", **form), 422, *words)


def test_unknown_model_is_404_and_names_the_served_ones(client, audio_dir):
    assert_error(post_file(client, "/v1/classify?model=keywords", audio_dir / "yes.wav"), 404,
                 "'keywords' is not served", "kw, speech, sounds")


def test_a_request_can_never_load_a_model(client, ast_model, audio_dir):
    assert_error(post_file(client, f"/v1/classify?model={ast_model}", audio_dir / "yes.wav"), 404, "not served")


def test_model_of_the_wrong_kind_is_422(client, audio_dir):
    assert_error(post_file(client, "/v1/classify?model=sounds", audio_dir / "yes.wav"), 422, "/v1/zero-shot")
    assert_error(post_file(client, "/v1/zero-shot?model=kw", audio_dir / "yes.wav", labels="a"), 422, "/v1/classify")


def test_not_audio_is_415(client, tmp_path):
    fake = tmp_path / "notes.wav"
    fake.write_text("these are my notes, not a recording\n" * 20)
    assert_error(post_file(client, "/v1/classify?model=kw", fake), 415, "notes.wav: could not decode audio")
    assert_error(client.post("/v1/classify?model=kw", content=fake.read_bytes()), 415,
                 "request body: could not decode audio")


def test_no_audio_is_422(client):
    assert_error(client.post("/v1/classify?model=kw"), 422, "no audio", "'file'")
    assert_error(client.post("/v1/classify?model=kw", data={"other": "x"}, files={"upload": ("a.wav", b"x")}),
                 422, "no audio", "upload")


def test_unusable_audio_is_422(client, tmp_path):
    too_short = tmp_path / "short.wav"
    sf.write(too_short, np.zeros(80, dtype=np.float32), 16000)  # 5 ms; AST needs 25 ms
    assert_error(post_file(client, "/v1/classify?model=kw", too_short), 422, "needs at least")
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full(16000, np.nan, dtype=np.float32), 16000, subtype="FLOAT")
    assert_error(post_file(client, "/v1/classify?model=kw", nan), 422, "NaN")


def test_bad_requests_leave_the_server_working(client, audio_dir):
    client.post("/v1/classify?model=kw", content=b"\x00" * 100)
    client.post("/v1/classify?model=nope", content=b"x")
    assert post_file(client, "/v1/classify?model=kw", audio_dir / "yes.wav").status_code == 200


def test_unknown_path_and_method_are_json_errors(client):
    assert_error(client.get("/v2/classify"), 404, "not found")
    assert_error(client.get("/v1/classify"), 405, "method not allowed")


def test_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for asset in ("/static/app.js", "/static/style.css"):
        assert asset in page.text
        assert client.get(asset).status_code == 200
    assert "http" not in page.text.replace('href="/docs"', "")  # nothing loaded from elsewhere


def test_docs_use_local_swagger_assets(client):
    page = client.get("/docs").text
    assert "cdn" not in page.lower() and "https://" not in page
    for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css", "/docs-assets/favicon.png"):
        assert asset in page
        assert client.get(asset).status_code == 200
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/v1/classify"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/octet-stream"} <= set(body)
    assert "labels" in schema["paths"]["/v1/zero-shot"]["post"]["requestBody"]["content"][
        "multipart/form-data"]["schema"]["properties"]


def test_models_are_loaded_from_the_config_by_name(ast_model, audio_dir):
    app = create_app(ServerConfig(models={"mine": str(ast_model)}))
    try:
        with TestClient(app) as test_client:
            assert [m["name"] for m in test_client.get("/v1/models").json()["models"]] == ["mine"]
            assert post_file(test_client, "/v1/classify?model=mine", audio_dir / "yes.wav").status_code == 200
    finally:
        app.state.audiosift.close()


def test_models_show_no_server_paths(client, ast_model, clap_model):
    reply = client.get("/v1/models")
    by_name = {m["name"]: m for m in reply.json()["models"]}
    # Loaded from folders: shown by the folder's name only, never where it lies on the server's disk.
    assert by_name["kw"]["model_id"] == ast_model.name and by_name["sounds"]["model_id"] == clap_model.name
    for folder in (ast_model, clap_model):
        assert str(folder.parent) not in reply.text
    assert by_name["speech"]["model_id"] == "builtin:silero-vad"  # not a path: shown as is


def test_undecodable_uploads_get_a_short_message_and_the_decoder_detail(client, audio_dir, tmp_path):
    webm = (audio_dir / "yes.webm").read_bytes()
    cut = tmp_path / "cut.webm"
    cut.write_bytes(webm[:40])  # a header cut short: FFmpeg's own words are "[Errno ...] ..."
    garbage = tmp_path / "noise.mp3"
    garbage.write_bytes(bytes(range(256)) * 64)
    for path in (cut, garbage):
        response = post_file(client, "/v1/classify?model=kw", path)
        assert_error(response, 415, f"{path.name}: could not decode audio", "wav, flac")
        body = response.json()
        assert "Errno" not in body["error"] and body["detail"], body  # the page shows "error" only


class CrashingDecoder:
    """A classifier whose decoding dies with an error audiosift did not foresee (a decoder bug, say)."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def prepare(self, audio, sampling_rate=None):
        raise IndexError("list index out of range")


def test_an_unforeseen_decoding_failure_is_415_not_500(speech_clf, audio_dir):
    with app_for({"speech": CrashingDecoder(speech_clf)}) as app, TestClient(app) as test_client:
        response = post_file(test_client, "/v1/classify", audio_dir / "yes.wav")
    assert_error(response, 415, "yes.wav: could not decode audio")
    assert response.json()["detail"] == "IndexError: list index out of range"


def test_the_prompt_cache_of_a_served_zero_shot_model_is_bounded(sounds_clf, audio_dir):
    from audiosift.inference.text_cache import DEFAULT_MAX_ENTRIES

    labels = [f"sound number {i}" for i in range(7)]
    try:
        with app_for({"sounds": sounds_clf}, max_cached_prompts=3) as app, TestClient(app) as test_client:
            response = post_file(test_client, "/v1/zero-shot", audio_dir / "yes.wav", labels=",".join(labels))
            assert response.status_code == 200, response.text
            assert sorted(p["label"] for p in response.json()["predictions"]) == sorted(labels)
            assert sounds_clf.text_cache.max_entries == 3 and len(sounds_clf.text_cache) == 3
    finally:
        sounds_clf.text_cache.resize(DEFAULT_MAX_ENTRIES)  # the model is shared with other tests
