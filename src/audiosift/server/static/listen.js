// Listen mode: the microphone streamed to the server's WebSocket /v1/listen as 16-bit PCM at the
// AudioContext's rate (the server resamples to the model's), detections shown as they arrive.
// Uses app.js's helpers ($, selectedModel, showError, openMicrophone, startMeter...).
"use strict";

const LISTEN_CHUNK_SECONDS = 0.1;  // audio per WebSocket message
const live = { socket: null, context: null, stream: null, stopMeter: null, ready: false, ended: false,
  detections: 0, seconds: 0, labels: [] };

function listenUrl(model, rate) {
  const params = new URLSearchParams({ model: model.name, rate: String(rate), format: "s16le" });
  if (model.kind === "zero-shot") params.set("labels", $("labels").value);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/v1/listen?${params}`;
}

function setListeningUi(listening) {
  $("listen-button").setAttribute("aria-pressed", String(listening));
  $("listen-text").textContent = listening ? "Stop listening" : "Start listening";
  $("record").disabled = listening;
}

function listenStatus(text) {
  $("listen-status").textContent = text;
}

async function startListening() {
  clearError();
  const model = selectedModel();
  if (!model) return;
  if (!window.AudioContext || !window.AudioWorkletNode || !window.WebSocket) {
    showError("Listen mode is not supported by this browser.", "It needs AudioWorklet and WebSocket.");
    return;
  }
  const stream = await openMicrophone();
  if (!stream) return;
  Object.assign(live, { stream, ready: false, ended: false, detections: 0, seconds: 0, labels: [] });
  $("live-detections").replaceChildren();
  setListeningUi(true);
  listenStatus("Connecting…");
  const context = new AudioContext();
  live.context = context;
  try {
    await context.audioWorklet.addModule("/static/listen-worklet.js");
  } catch (error) {
    stopCapture();
    showError("Could not start the audio processing.", error.message);
    return;
  }
  const source = context.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(context, "pcm-sender", {
    channelCount: 1, channelCountMode: "explicit",
    processorOptions: { samples: Math.round(context.sampleRate * LISTEN_CHUNK_SECONDS) },
  });
  const mute = context.createGain();  // the node must reach the destination to be run; silently
  mute.gain.value = 0;
  source.connect(node).connect(mute).connect(context.destination);
  live.stopMeter = startMeter(context, source, $("listen-meter"));
  const socket = new WebSocket(listenUrl(model, context.sampleRate));
  socket.binaryType = "arraybuffer";
  live.socket = socket;
  // Audio before the server's "ready" is dropped: detection times count from the first sample sent.
  node.port.onmessage = (event) => {
    if (live.ready && socket.readyState === WebSocket.OPEN) socket.send(event.data);
  };
  socket.onmessage = (event) => onListenMessage(JSON.parse(event.data));
  socket.onclose = (event) => onListenClosed(socket, event);
}

function wordsOf(labels) {
  return labels.slice(0, 6).join(", ") + (labels.length > 6 ? ", …" : "");
}

function onListenMessage(message) {
  if (message.type === "ready") {
    live.ready = true;
    live.labels = message.labels;
    listenStatus(`Listening for ${wordsOf(message.labels)}.`);
  } else if (message.type === "detection") {
    live.detections += 1;
    const item = detectionItem(message);
    item.classList.add("fresh");
    $("live-detections").prepend(item);  // newest first
  } else if (message.type === "progress") {
    live.seconds = message.seconds;
    if (!live.ended) listenStatus(`Listening for ${wordsOf(live.labels)} · ${message.seconds.toFixed(0)} s heard`);
  } else if (message.type === "end") {
    live.ended = true;
    listenStatus(`Stopped after ${message.seconds.toFixed(1)} s: ${live.detections} detection(s).`);
  } else if (message.type === "error") {
    live.ended = true;
    stopCapture();
    showHttpError(message.status, message);
    listenStatus("Not listening.");
  }
}

function onListenClosed(socket, event) {
  if (live.socket !== socket) return;  // an earlier session's socket
  live.socket = null;
  stopCapture();
  if (!live.ended) {
    showError("The connection to the server closed.", event.reason || `WebSocket code ${event.code}`);
    listenStatus("Not listening.");
  }
}

// Stop the microphone and audio processing (the socket finishes on its own).
function stopCapture() {
  if (live.stopMeter) live.stopMeter();
  live.stopMeter = null;
  if (live.stream) live.stream.getTracks().forEach((track) => track.stop());
  live.stream = null;
  if (live.context) live.context.close();
  live.context = null;
  setListeningUi(false);
}

function stopListening() {
  const socket = live.socket;
  stopCapture();
  if (socket && socket.readyState === WebSocket.OPEN && live.ready) {
    listenStatus("Stopping…");
    socket.send(JSON.stringify({ type: "end" }));  // the server flushes, sends "end" and closes
  } else if (socket) {
    live.ended = true;
    socket.close();
    listenStatus("Not listening.");
  }
}

function toggleListening() {
  if (live.stream) stopListening();
  else startListening();
}

document.addEventListener("DOMContentLoaded", () => {
  $("listen-button").addEventListener("click", toggleListening);
  // A different model listens for different words: the running session is for the old one.
  document.addEventListener("audiosift:model-change", () => {
    if (live.stream) stopListening();
    $("listen-button").disabled = !selectedModel();
  });
});
