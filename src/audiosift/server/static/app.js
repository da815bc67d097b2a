// audiosift web page: pick a served model, upload or record a clip, play it, see the top-k labels.
// Plain JavaScript, no build step, nothing loaded from outside this server.
"use strict";

// Recordings stop by themselves at the server's duration limit, or at this many seconds.
const MAX_RECORD_SECONDS = 30;

const $ = (id) => document.getElementById(id);
const state = { models: [], limits: {}, clip: null, recorder: null, recordTimer: null, playerUrl: null };

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function selectedModel() {
  return state.models.find((m) => m.name === $("model").value);
}

function describeModel(model) {
  if (!model) return "";
  const kind = model.kind === "zero-shot" ? "zero-shot: scores the labels you type"
    : `${model.labels.length} labels`;
  return `${model.model_id} · ${kind} · ${model.sampling_rate / 1000} kHz`;
}

function onModelChange() {
  const model = selectedModel();
  $("model-info").textContent = describeModel(model);
  $("labels-field").hidden = !(model && model.kind === "zero-shot");
  $("results").hidden = true;
}

async function loadModels() {
  try {
    const response = await fetch("/v1/models");
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    state.models = body.models;
    state.limits = body.limits;
  } catch (error) {
    showError(`Could not load the list of models: ${error.message}`);
    return;
  }
  const select = $("model");
  select.replaceChildren(...state.models.map((m) => new Option(`${m.name} (${m.kind})`, m.name)));
  select.disabled = false;
  const mib = (state.limits.max_upload_bytes / 1048576).toFixed(0);
  $("limits").textContent = `limits: ${mib} MiB, ${state.limits.max_audio_seconds} s per clip`;
  onModelChange();
}

function setClip(blob, name, description) {
  state.clip = { blob, name };
  if (state.playerUrl) URL.revokeObjectURL(state.playerUrl);
  state.playerUrl = URL.createObjectURL(blob);
  const player = $("player");
  player.src = state.playerUrl;
  player.hidden = false;
  $("clip-status").textContent = description;
  $("classify").disabled = false;
  $("results").hidden = true;
}

function onFileChosen() {
  clearError();
  const file = $("file").files[0];
  if (!file) return;
  if (state.limits.max_upload_bytes && file.size > state.limits.max_upload_bytes) {
    showError(`${file.name} is ${(file.size / 1048576).toFixed(1)} MiB; the server accepts at most ` +
      `${(state.limits.max_upload_bytes / 1048576).toFixed(1)} MiB.`);
    return;
  }
  setClip(file, file.name, `File: ${file.name} (${(file.size / 1024).toFixed(0)} KiB)`);
}

function recordingMimeType() {
  const preferred = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"];
  return preferred.find((type) => window.MediaRecorder && MediaRecorder.isTypeSupported(type)) || "";
}

async function startRecording() {
  clearError();
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    showError("Recording needs a browser with microphone access on a secure page (https, or http://localhost).");
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    showError(`Could not use the microphone: ${error.message || error.name}`);
    return;
  }
  const mimeType = recordingMimeType();
  const recorder = new MediaRecorder(stream, mimeType ? { mimeType } : undefined);
  const chunks = [];
  const started = Date.now();
  recorder.ondataavailable = (event) => { if (event.data.size) chunks.push(event.data); };
  recorder.onstop = () => {
    stream.getTracks().forEach((track) => track.stop());
    clearInterval(state.recordTimer);
    setRecordingUi(false);
    const type = recorder.mimeType || mimeType || "audio/webm";
    const blob = new Blob(chunks, { type });
    const extension = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (!blob.size) { showError("The recording is empty: check the microphone."); return; }
    setClip(blob, `recording.${extension}`, `Recording: ${seconds} s (${type})`);
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
  if (recording) $("clip-status").textContent = "Recording…";
}

function toggleRecording() {
  if (state.recorder && state.recorder.state === "recording") stopRecording();
  else startRecording();
}

function requestFor(model) {
  const form = new FormData();
  form.append("file", state.clip.blob, state.clip.name);
  const params = new URLSearchParams({ model: model.name });
  const topK = parseInt($("top-k").value, 10);
  if (topK > 0) params.set("top_k", String(topK));
  if (model.kind === "zero-shot") {
    form.append("labels", $("labels").value);
    return { url: `/v1/zero-shot?${params}`, form };
  }
  return { url: `/v1/classify?${params}`, form };
}

async function classify(event) {
  event.preventDefault();
  clearError();
  const model = selectedModel();
  if (!model || !state.clip) return;
  const { url, form } = requestFor(model);
  const button = $("classify");
  button.disabled = true;
  button.textContent = "Classifying…";
  $("results").setAttribute("aria-busy", "true");
  try {
    const response = await fetch(url, { method: "POST", body: form });
    let body;
    try { body = await response.json(); } catch { body = {}; }
    if (!response.ok) {
      showError(`Error ${response.status}: ${body.error || response.statusText}`);
      return;
    }
    showPredictions(body);
  } catch (error) {
    showError(`Could not reach the server: ${error.message}`);
  } finally {
    button.disabled = false;
    button.textContent = "Classify";
    $("results").removeAttribute("aria-busy");
  }
}

function showPredictions(body) {
  const list = $("predictions");
  list.replaceChildren(...body.predictions.map((p) => {
    const percent = (100 * p.score).toFixed(1);
    const item = document.createElement("li");
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = p.label;
    const track = document.createElement("span");
    track.className = "track";
    track.setAttribute("aria-hidden", "true");
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.max(0, Math.min(100, 100 * p.score))}%`;
    track.append(bar);
    const pct = document.createElement("span");
    pct.className = "pct";
    pct.textContent = `${percent}%`;
    item.append(label, track, pct);
    return item;
  }));
  $("results-summary").textContent = `${body.model} · ${body.duration_s.toFixed(2)} s of audio`;
  const warnings = body.warnings || [];
  $("results-warning").textContent = warnings.join(" ");
  $("results-warning").hidden = warnings.length === 0;
  $("results").hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  $("model").addEventListener("change", onModelChange);
  $("file").addEventListener("change", onFileChosen);
  $("record").addEventListener("click", toggleRecording);
  $("classify-form").addEventListener("submit", classify);
  loadModels();
});
