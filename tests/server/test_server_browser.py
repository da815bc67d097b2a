"""The web page in a real headless Chromium (Debian's, driven by Playwright; no browser download).

Recording uses Chromium's fake microphone, fed from a WAV file of espeak-ng speech ("hey jarvis",
then "alexa", looped by Chromium), so the page's MediaRecorder produces real webm/opus that the
server must decode, and Listen mode streams real PCM over the WebSocket to the wake-word model.
Layout checks run at a phone's width (390 px) and a desktop's.
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
from wake_word_audio import RATE, phrase

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
    """What the fake microphone hears: espeak-ng saying "hey jarvis" then "alexa", each padded with
    0.5 s of silence (3.8 s in all), at 48 kHz (the rate Chromium's capture runs at)."""
    folder = tmp_path_factory.mktemp("mic")
    samples = np.concatenate([phrase("hey jarvis", folder, "en-us"), phrase("alexa", folder)])
    sf.write(folder / "wake.wav", samples, RATE, subtype="PCM_16")
    return audio_factory.convert(folder / "wake.wav", folder / "microphone.wav", rate=48000)


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


def test_record_from_the_microphone_play_back_and_classify(page, live_server, audio_dir):
    before = httpx.get(f"{live_server}/v1/stats").json()["models"]["speech"]["requests"]
    page.get_by_label("Model").select_option("speech")
    page.get_by_label("Choose a file").set_input_files(str(audio_dir / "yes.wav"))
    assert "yes.wav" in page.locator("#clip-status").inner_text()
    record = page.get_by_role("button", name="Record")
    record.click()
    # The level meter moves while the fake microphone speaks.
    page.wait_for_function("Number(document.getElementById('record-meter').getAttribute('aria-valuenow')) > 20")
    assert page.locator("#record-meter").is_visible()
    page.wait_for_function("document.getElementById('clip-status').textContent.includes('2 s')")
    page.get_by_role("button", name="Stop recording").click()
    page.locator("#record-meter").wait_for(state="hidden")
    status = page.locator("#clip-status")
    page.wait_for_function("document.getElementById('clip-status').textContent.startsWith('Recording (')")
    assert "webm/opus" in status.inner_text()
    assert page.locator("#player").is_visible()
    # The recording is the clip now: the file control no longer holds yes.wav, and the page says so.
    assert page.locator("#file").evaluate("input => input.files.length") == 0
    assert "yes.wav" not in status.inner_text()
    # The player knows the recording's duration before it is played (webm declares none), at 0:00.
    page.wait_for_function("Number.isFinite(document.getElementById('player').duration)")
    duration, position, paused = page.locator("#player").evaluate("p => [p.duration, p.currentTime, p.paused]")
    assert 1.0 < duration < 10 and position == 0 and paused  # recorded ~1.5 s ("2 s" shown)
    assert re.search(r"· \d+\.\d+ s$", status.inner_text())
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


def test_errors_are_shown_in_the_page(page, live_server, tmp_path):
    notes = tmp_path / "notes.wav"
    notes.write_text("not a recording\n" * 50)
    page.get_by_label("Choose a file").set_input_files(str(notes))
    page.get_by_role("button", name="Classify").click()
    error = page.get_by_role("alert")
    error.wait_for()
    shown = error.inner_text()
    assert re.search(r"This file could not be read as audio.\s+notes.wav: could not decode audio: .*\(HTTP 415\)",
                     shown)
    with open(notes, "rb") as handle:  # the decoder's own words stay in the API's "detail"
        detail = httpx.post(f"{live_server}/v1/classify?model=kw", files={"file": handle}).json()["detail"]
    assert detail and detail not in shown
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


# Every visible element of each card lies within the card, and the page is no wider than the viewport.
LAYOUT_PROBLEMS = """() => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) problems.push(`page ${root.scrollWidth} px > ${root.clientWidth} px`);
  for (const card of document.querySelectorAll('.card, fieldset, #error')) {
    if (!card.offsetParent) continue;
    const box = card.getBoundingClientRect();
    for (const el of card.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (!el.offsetParent || el.classList.contains('visually-hidden') || (!r.width && !r.height)) continue;
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5)
        problems.push(`${el.tagName}#${el.id}.${el.className} [${r.left}, ${r.right}] outside ` +
                      `${card.id || card.tagName} [${box.left}, ${box.right}]`);
    }
  }
  return problems;
}"""


@pytest.mark.parametrize("width", [390, 1280])
def test_layout_fits_phone_and_desktop_widths(page, audio_dir, tmp_path, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.get_by_label("Model").select_option("kw")
    long_name = tmp_path / ("a-recording-with-a-very-long-file-name-" * 3 + ".wav")
    long_name.write_bytes((audio_dir / "yes.wav").read_bytes())
    page.get_by_label("Choose a file").set_input_files(str(long_name))
    page.get_by_role("button", name="Classify").click()
    shown_predictions(page)
    assert page.evaluate(LAYOUT_PROBLEMS) == []
    # The bars keep most of the card's width at both widths (on a phone, the label sits above its bar).
    track, row = page.locator("#predictions li").first.evaluate(
        "li => [li.querySelector('.track').getBoundingClientRect().width, li.getBoundingClientRect().width]")
    assert track > (0.8 if width < 500 else 0.5) * row
    screenshot(page, f"layout-{width}")
    page.get_by_label("Model").select_option("sounds")
    page.get_by_label("Labels to score").fill(" , ")
    page.get_by_role("button", name="Classify").click()
    page.get_by_role("alert").wait_for()
    assert page.evaluate(LAYOUT_PROBLEMS) == []
    screenshot(page, f"layout-{width}-error")


def test_results_and_errors_are_cleared_when_the_input_or_model_changes(page, audio_dir, tmp_path):
    page.get_by_label("Model").select_option("sounds")
    page.get_by_label("Choose a file").set_input_files(str(audio_dir / "yes.wav"))
    page.get_by_role("button", name="Classify").click()
    shown_predictions(page)
    page.get_by_label("Labels to score").fill("")  # an error after results: the old results go
    assert page.locator("#results").is_hidden()
    page.get_by_role("button", name="Classify").click()
    error = page.get_by_role("alert")
    error.wait_for()
    assert "labels are required" in error.inner_text() and "HTTP 422" in error.inner_text()
    assert page.locator("#results").is_hidden() and page.locator("#predictions li").count() == 0
    tiny = tmp_path / "tiny.wav"
    tiny.write_bytes(b"RIFF" + b"\x00" * 24)  # 28 bytes, and not audio
    page.get_by_label("Choose a file").set_input_files(str(tiny))
    assert error.is_hidden()  # a new clip clears the old error
    assert page.locator("#clip-status").inner_text() == "File: tiny.wav (28 bytes)"
    page.get_by_label("Model").select_option("kw")
    page.get_by_role("button", name="Classify").click()
    error.wait_for()
    assert "HTTP 415" in error.inner_text()
    page.get_by_label("Model").select_option("speech")  # a different model clears the old 415
    assert error.is_hidden()
    requests_before = len(page.requested_urls)
    page.get_by_label("Show top").fill("0")  # refused in the page, not sent with a silent default
    page.get_by_role("button", name="Classify").click()
    error.wait_for()
    assert "Show top: enter a whole number from 1 to 100" in error.inner_text()
    assert len(page.requested_urls) == requests_before
    assert page.get_by_label("Show top").get_attribute("aria-invalid") == "true"


def test_a_wake_word_model_shows_the_detections_in_a_file(page, microphone_wav):
    page.get_by_label("Model").select_option("wake")
    assert "wake words: alexa, hey jarvis" in page.locator("#model-info").inner_text()
    assert page.locator("#player").is_hidden() and page.locator("#clip-status").inner_text() == "No clip yet."
    page.get_by_label("Choose a file").set_input_files(str(microphone_wav))
    page.get_by_role("button", name="Classify").click()
    page.locator("#detections li").first.wait_for()
    rows = page.locator("#detections li").all_inner_texts()
    assert [re.match(r"(hey jarvis|alexa)\s+\d+\.\d\d–\d+\.\d\d s\s+\d+%", row).group(1) for row in rows] \
        == ["hey jarvis", "alexa"]
    assert page.locator("#no-detections").is_hidden()


def test_listen_mode_streams_the_microphone_and_shows_wake_words_live(page, live_server):
    before = httpx.get(f"{live_server}/v1/stats").json()["listen"]
    page.get_by_label("Model").select_option("wake")
    page.get_by_role("button", name="Start listening").click()
    page.wait_for_function("document.getElementById('listen-status').textContent.startsWith('Listening for')")
    page.wait_for_function("Number(document.getElementById('listen-meter').getAttribute('aria-valuenow')) > 20")
    first = page.locator("#live-detections li").first
    first.wait_for()
    found = re.match(r"(hey jarvis|alexa)\s+(\d+\.\d\d)–(\d+\.\d\d) s\s+\d+%", first.inner_text())
    assert found and 0 <= float(found.group(2)) < float(found.group(3)) < 15
    screenshot(page, "listen")
    page.get_by_role("button", name="Stop listening").click()
    page.wait_for_function("document.getElementById('listen-status').textContent.startsWith('Stopped after')")
    after = httpx.get(f"{live_server}/v1/stats").json()["listen"]
    assert after["sessions"] == before["sessions"] + 1 and after["active"] == 0
    assert after["seconds_heard"] - before["seconds_heard"] >= float(found.group(3)) - 0.2
    assert page.locator("#error").is_hidden()
    page.get_by_label("Model").select_option("kw")  # a new model: the old session's words stay until the next start
    assert page.get_by_role("button", name="Start listening").is_enabled()
