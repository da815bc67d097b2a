// audiosift web page: pick a served model, upload or record a clip, play it, see the top-k labels
// (and, for a wake-word model, its detections with their times). Listen mode is in listen.js.
// Plain JavaScript, no build step, nothing loaded from outside this server.
"use strict";

// Recordings stop by themselves at the server's duration limit, or at this many seconds.
const MAX_RECORD_SECONDS = 30;
const MAX_TOP_K = 100;

const $ = (id) => document.getElementById(id);
const state = { models: [], limits: {}, clip: null, recorder: null, recordTimer: null, playerUrl: null };

// What each HTTP status means for someone using the page; the server's own sentence follows.
const ERROR_TITLES = {
  404: "That model is not served any more: reload the page.",
  408: "The upload took too long.",
  413: "The clip is too long or too large for this server.",
  415: "This file could not be read as audio.",
  422: "The request needs a change.",
  503: "The server is busy: try again in a moment.",
  500: "Something went wrong on the server.",
};

function showError(title, text = "", status = null) {
  $("error-title").textContent = title;
  $("error-text").textContent = text + (status ? ` (HTTP ${status})` : "");
  $("error").hidden = false;
}

function showHttpError(status, body) {
  // The server sends a short "error" for people and the decoder's own words in "detail": show "error".
  const title = ERROR_TITLES[status] || (status >= 500 ? ERROR_TITLES[500] : "The request was refused.");
  showError(title, (body && body.error) || "", status);
}

function clearError() {
  $("error").hidden = true;
  $("error-title").textContent = "";
  $("error-text").textContent = "";
}

// Results belong to one clip, one model and one set of labels: any change makes them stale.
function clearResults() {
  $("results").hidden = true;
  $("predictions").replaceChildren();
  $("detections").replaceChildren();
}

function clearOutcome() {
  clearError();
  clearResults();
}

function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} byte${bytes === 1 ? "" : "s"}`;
  if (bytes < 1048576) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function formatSeconds(seconds) {
  return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
}

function selectedModel() {
  return state.models.find((m) => m.name === $("model").value);
}

function kindOf(model) {
  return model.detector ? "wake word" : model.kind;
}

function describeModel(model) {
  if (!model) return "";
  const kind = model.kind === "zero-shot" ? "zero-shot: scores the labels you type"
    : model.detector ? `wake words: ${model.labels.join(", ")}` : `${model.labels.length} labels`;
  return `${model.model_id} · ${kind} · ${model.sampling_rate / 1000} kHz`;
}

function onModelChange() {
  const model = selectedModel();
  $("model-info").textContent = describeModel(model);
  $("labels-field").hidden = !(model && model.kind === "zero-shot");
  clearOutcome();
  document.dispatchEvent(new CustomEvent("audiosift:model-change"));
}

async function loadModels() {
  try {
    const response = await fetch("/v1/models");
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    state.models = body.models;
    state.limits = body.limits;
  } catch (error) {
    showError("Could not load the list of models.", error.message);
    return;
  }
  const select = $("model");
  select.replaceChildren(...state.models.map((m) => new Option(`${m.name} (${kindOf(m)})`, m.name)));
  select.disabled = false;
  const mib = (state.limits.max_upload_bytes / 1048576).toFixed(0);
  $("limits").textContent = `limits: ${mib} MiB, ${state.limits.max_audio_seconds} s per clip`;
  onModelChange();
}

function setClip(blob, name, description) {
  clearOutcome();
  state.clip = { blob, name, description };
  if (state.playerUrl) URL.revokeObjectURL(state.playerUrl);
  state.playerUrl = URL.createObjectURL(blob);
  const player = $("player");
  player.src = state.playerUrl;
  player.hidden = false;
  $("clip-status").textContent = description;
  $("classify").disabled = false;
}

// MediaRecorder's webm declares no duration, so the player would show none until played through:
// seeking far past the end makes the browser find it; then back to the start.
function showDurationBeforePlaying() {
  const player = $("player");
  const seek = () => {
    if (Number.isFinite(player.duration)) return;
    const found = () => {
      if (!Number.isFinite(player.duration)) return;
      player.removeEventListener("durationchange", found);
      player.currentTime = 0;
      onDurationKnown();
    };
    player.addEventListener("durationchange", found);
    player.currentTime = 1e9;
  };
  if (player.readyState >= 1) seek();
  else player.addEventListener("loadedmetadata", seek, { once: true });
}

function onDurationKnown() {
  const player = $("player");
  if (state.clip && Number.isFinite(player.duration)) {
    $("clip-status").textContent = `${state.clip.description} · ${formatSeconds(player.duration)}`;
  }
}

function onFileChosen() {
  const file = $("file").files[0];
  if (!file) return;
  if (state.limits.max_upload_bytes && file.size > state.limits.max_upload_bytes) {
    clearOutcome();
    showError(`${file.name} is too large.`, `It is ${formatBytes(file.size)}; the server accepts at most ` +
      `${formatBytes(state.limits.max_upload_bytes)}.`);
    return;
  }
  setClip(file, file.name, `File: ${file.name} (${formatBytes(file.size)})`);
}

function recordingMimeType() {
  const preferred = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"];
  return preferred.find((type) => window.MediaRecorder && MediaRecorder.isTypeSupported(type)) || "";
}

// A level meter on a microphone stream: RMS of the last analyser block, on a dB scale (-60..0 dB).
function startMeter(context, source, element) {
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const level = element.querySelector(".level");
  element.hidden = false;
  let frame = null;
  const draw = () => {
    analyser.getFloatTimeDomainData(samples);
    const rms = Math.sqrt(samples.reduce((sum, x) => sum + x * x, 0) / samples.length);
    const percent = Math.max(0, Math.min(100, (20 * Math.log10(rms + 1e-9) + 60) * (100 / 60)));
    level.style.width = `${percent.toFixed(0)}%`;
    element.setAttribute("aria-valuenow", percent.toFixed(0));
    frame = requestAnimationFrame(draw);
  };
  draw();
  return () => {
    cancelAnimationFrame(frame);
    source.disconnect(analyser);
    element.hidden = true;
    level.style.width = "0%";
    element.setAttribute("aria-valuenow", "0");
  };
}

async function openMicrophone() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showError("The microphone is not available here.",
      "It needs a browser with microphone access on a secure page (https, or http://localhost).");
    return null;
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    showError("Could not use the microphone.", error.message || error.name);
    return null;
  }
}

async function startRecording() {
  clearOutcome();
  if (!window.MediaRecorder) {
    showError("Recording is not supported by this browser.", "Choose a file instead.");
    return;
  }
  const stream = await openMicrophone();
  if (!stream) return;
  const mimeType = recordingMimeType();
  const recorder = new MediaRecorder(stream, mimeType ? { mimeType } : undefined);
  const context = new AudioContext();
  const stopMeter = startMeter(context, context.createMediaStreamSource(stream), $("record-meter"));
  const chunks = [];
  const started = Date.now();
  recorder.ondataavailable = (event) => { if (event.data.size) chunks.push(event.data); };
  recorder.onstop = () => {
    stopMeter();
    context.close();
    stream.getTracks().forEach((track) => track.stop());
    clearInterval(state.recordTimer);
    setRecordingUi(false);
    const type = recorder.mimeType || mimeType || "audio/webm";
    const blob = new Blob(chunks, { type });
    const extension = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
    if (!blob.size) { showError("The recording is empty.", "Check the microphone."); return; }
    $("file").value = "";  // the recording, not the last chosen file, is the clip now
    setClip(blob, `recording.${extension}`, `Recording (${type.replace("audio/", "").replace(";codecs=", "/")})`);
    showDurationBeforePlaying();
  };
  state.recorder = recorder;
  recorder.start();
  setRecordingUi(true);
  const limit = Math.min(MAX_RECORD_SECONDS, state.limits.max_audio_seconds || MAX_RECORD_SECONDS);
  state.recordTimer = setInterval(() => {
    const elapsed = (Date.now() - started) / 1000;
    $("clip-status").textContent = `Recording… ${elapsed.toFixed(0)} s (stops at ${limit} s)`;
    if (elapsed >= limit) stopRecording();
  }, 250);
}

function stopRecording() {
  if (state.recorder && state.recorder.state !== "inactive") state.recorder.stop();
}

function setRecordingUi(recording) {
  $("record").setAttribute("aria-pressed", String(recording));
  $("record-text").textContent = recording ? "Stop recording" : "Record";
  $("file").disabled = recording;
  $("classify").disabled = recording || !state.clip;
  $("listen-button").disabled = recording || !selectedModel();  // one use of the microphone at a time
  if (recording) $("clip-status").textContent = "Recording…";
}

function toggleRecording() {
  if (state.recorder && state.recorder.state === "recording") stopRecording();
  else startRecording();
}

// "Show top": a whole number from 1 to MAX_TOP_K, or the request is not sent (no silent fallback).
function topK() {
  const field = $("top-k");
  const text = field.value.trim();
  const value = Number(text);
  const ok = /^\d+$/.test(text) && value >= 1 && value <= MAX_TOP_K;
  field.setAttribute("aria-invalid", String(!ok));
  return ok ? value : null;
}

function requestFor(model, top) {
  const form = new FormData();
  form.append("file", state.clip.blob, state.clip.name);
  const params = new URLSearchParams({ model: model.name, top_k: String(top) });
  if (model.kind === "zero-shot") {
    form.append("labels", $("labels").value);
    return { url: `/v1/zero-shot?${params}`, form };
  }
  return { url: `/v1/classify?${params}`, form };
}

async function classify(event) {
  event.preventDefault();
  clearOutcome();
  const model = selectedModel();
  if (!model || !state.clip) return;
  const top = topK();
  if (top === null) {
    showError("Show top: enter a whole number from 1 to 100.", `"${$("top-k").value}" is not one.`);
    $("top-k").focus();
    return;
  }
  const { url, form } = requestFor(model, top);
  const button = $("classify");
  button.disabled = true;
  button.textContent = "Classifying…";
  $("results").setAttribute("aria-busy", "true");
  try {
    const response = await fetch(url, { method: "POST", body: form });
    let body;
    try { body = await response.json(); } catch { body = {}; }
    if (!response.ok) showHttpError(response.status, body);
    else showPredictions(body);
  } catch (error) {
    showError("Could not reach the server.", error.message);
  } finally {
    button.disabled = false;
    button.textContent = "Classify";
    $("results").removeAttribute("aria-busy");
  }
}

function bar(prediction) {
  const item = document.createElement("li");
  const label = document.createElement("span");
  label.className = "label";
  label.textContent = prediction.label;
  const track = document.createElement("span");
  track.className = "track";
  track.setAttribute("aria-hidden", "true");
  const fill = document.createElement("span");
  fill.className = "bar";
  fill.style.width = `${Math.max(0, Math.min(100, 100 * prediction.score))}%`;
  track.append(fill);
  const pct = document.createElement("span");
  pct.className = "pct";
  pct.textContent = `${(100 * prediction.score).toFixed(1)}%`;
  item.append(label, track, pct);
  return item;
}

function detectionItem(detection) {
  const item = document.createElement("li");
  const label = document.createElement("strong");
  label.textContent = detection.label;
  const when = document.createElement("span");
  when.className = "when";
  when.textContent = `${detection.start.toFixed(2)}–${detection.end.toFixed(2)} s`;
  const score = document.createElement("span");
  score.className = "pct";
  score.textContent = `${(100 * detection.score).toFixed(0)}%`;
  item.append(label, when, score);
  return item;
}

function showPredictions(body) {
  $("predictions").replaceChildren(...body.predictions.map(bar));
  const detections = body.detections;
  $("detections-block").hidden = !detections;
  if (detections) {
    $("detections").replaceChildren(...detections.map(detectionItem));
    $("no-detections").hidden = detections.length > 0;
  }
  $("results-summary").textContent = `${body.model} · ${body.duration_s.toFixed(2)} s of audio`;
  const warnings = body.warnings || [];
  $("results-warning").textContent = warnings.join(" ");
  $("results-warning").hidden = warnings.length === 0;
  $("results").hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  $("model").addEventListener("change", onModelChange);
  $("file").addEventListener("change", onFileChosen);
  $("labels").addEventListener("input", clearResults);
  $("top-k").addEventListener("input", clearResults);
  $("player").addEventListener("loadedmetadata", onDurationKnown);
  $("record").addEventListener("click", toggleRecording);
  $("classify-form").addEventListener("submit", classify);
  loadModels();
});
