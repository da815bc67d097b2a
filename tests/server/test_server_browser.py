"""The web page in a real headless Chromium (Debian's, driven by Playwright; no browser download).

Recording uses Chromium's fake microphone, fed from a WAV file of espeak-ng speech, so the page's
MediaRecorder produces real webm/opus that the server must decode.
Set AUDIOSIFT_SCREENSHOTS=<folder> to keep screenshots of the page for a look.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

import audio_factory

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
# Keep Chromium off the network (see shared/reference/offline-setup.md).
OFFLINE_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def microphone_wav(tmp_path_factory) -> Path:
    """What the fake microphone hears: espeak-ng saying 'yes', padded with a little silence, 48 kHz."""
    folder = tmp_path_factory.mktemp("mic")
    spoken = audio_factory.speak("yes, yes", folder / "spoken.wav")
    samples, rate = sf.read(spoken, dtype="float32")
    pad = np.zeros(int(0.2 * rate), dtype=np.float32)
    sf.write(folder / "padded.wav", np.concatenate([pad, samples, pad]), rate, subtype="PCM_16")
    return audio_factory.convert(folder / "padded.wav", folder / "microphone.wav", rate=48000)


@pytest.fixture(scope="module")
def browser(microphone_wav):
    from playwright.sync_api import sync_playwright

    flags = OFFLINE_FLAGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                             f"--use-file-for-fake-audio-capture={microphone_wav}"]
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server, permissions=["microphone"],
                                  viewport={"width": 900, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.requested_urls = []
    page.on("request", lambda request: page.requested_urls.append(request.url))
    page.goto("/")
    page.get_by_label("Model").wait_for()
    page.wait_for_function("!document.getElementById('model').disabled")
    yield page
    context.close()


def screenshot(page, name: str) -> None:
    folder = os.environ.get("AUDIOSIFT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def shown_predictions(page) -> list[tuple[str, str]]:
    page.locator("#predictions li").first.wait_for()
    rows = page.locator("#predictions li")
    return [(rows.nth(i).locator(".label").inner_text(), rows.nth(i).locator(".pct").inner_text())
            for i in range(rows.count())]


def test_upload_play_and_see_the_top_k_as_bars(page, live_server, audio_dir):
    page.get_by_label("Model").select_option("kw")
    page.get_by_label("Choose a file").set_input_files(str(audio_dir / "yes.wav"))
    assert page.locator("#player").is_visible()
    assert page.locator("#player").get_attribute("src").startswith("blob:")
    page.get_by_role("button", name="Classify").click()
    shown = shown_predictions(page)
    with open(audio_dir / "yes.wav", "rb") as handle:
        api = httpx.post(f"{live_server}/v1/classify?model=kw&top_k=5", files={"file": handle}).json()
    assert shown == [(p["label"], f"{100 * p['score']:.1f}%") for p in api["predictions"]]
    widths = page.locator("#predictions .bar").evaluate_all("bars => bars.map(b => parseFloat(b.style.width))")
    assert widths == pytest.approx([100 * p["score"] for p in api["predictions"]], abs=1e-3)
    assert page.locator("#error").is_hidden()
    assert page.locator("#results-warning").is_hidden()
    screenshot(page, "upload")


def test_a_long_clip_shows_the_models_warning(page, audio_dir):
    page.get_by_label("Model").select_option("kw")
    page.get_by_label("Choose a file").set_input_files(str(audio_dir / "sentence.wav"))
    page.get_by_role("button", name="Classify").click()
    shown_predictions(page)
    assert "looks only at its first" in page.locator("#results-warning").inner_text()


def test_record_from_the_microphone_play_back_and_classify(page, live_server):
    before = httpx.get(f"{live_server}/v1/stats").json()["models"]["speech"]["requests"]
    page.get_by_label("Model").select_option("speech")
    record = page.get_by_role("button", name="Record")
    record.click()
    page.wait_for_function("document.getElementById('clip-status').textContent.includes('2 s')")
    page.get_by_role("button", name="Stop recording").click()
    status = page.locator("#clip-status")
    page.wait_for_function("document.getElementById('clip-status').textContent.startsWith('Recording:')")
    assert "webm" in status.inner_text() and "opus" in status.inner_text()
    assert page.locator("#player").is_visible()
    page.get_by_role("button", name="Classify").click()
    shown = shown_predictions(page)
    assert [label for label, _ in shown] == ["speech", "no_speech"]  # the fake microphone played speech
    assert float(shown[0][1].rstrip("%")) > 50
    assert httpx.get(f"{live_server}/v1/stats").json()["models"]["speech"]["requests"] == before + 1
    screenshot(page, "recording")


def test_zero_shot_model_scores_the_typed_labels(page, audio_dir):
    labels_box = page.get_by_label("Labels to score")
    page.get_by_label("Model").select_option("kw")
    assert labels_box.is_hidden()
    page.get_by_label("Model").select_option("sounds")
    assert labels_box.is_visible()
    labels_box.fill("dog barking, rain, speech")
    page.get_by_label("Choose a file").set_input_files(str(audio_dir / "yes.wav"))
    page.get_by_role("button", name="Classify").click()
    shown = shown_predictions(page)
    assert sorted(label for label, _ in shown) == ["dog barking", "rain", "speech"]
    assert sum(float(pct.rstrip("%")) for _, pct in shown) == pytest.approx(100, abs=0.2)
    screenshot(page, "zero-shot")


def test_errors_are_shown_in_the_page(page, tmp_path):
    notes = tmp_path / "notes.wav"
    notes.write_text("not a recording\n" * 50)
    page.get_by_label("Choose a file").set_input_files(str(notes))
    page.get_by_role("button", name="Classify").click()
    error = page.get_by_role("alert")
    error.wait_for()
    assert re.search(r"Error 415: notes.wav: could not decode audio", error.inner_text())
    assert page.locator("#results").is_hidden()
    screenshot(page, "error")


def test_page_and_docs_load_nothing_from_outside(page, live_server):
    page.goto("/docs")
    page.locator(".opblock-summary-path", has_text="/v1/classify").first.wait_for()  # Swagger UI rendered
    page.goto("/")
    page.wait_for_function("!document.getElementById('model').disabled")
    outside = [url for url in page.requested_urls
               if not (url.startswith(live_server) or url.startswith(("blob:", "data:")))]
    assert page.requested_urls and outside == []
