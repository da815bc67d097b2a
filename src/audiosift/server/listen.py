"""Live listening over a WebSocket (``/v1/listen``), and wake-word detections over HTTP.

Protocol (see ``docs/serving.md``): connect to ``/v1/listen?model=NAME`` with optional ``labels``
(comma-separated), ``threshold``, ``rate`` (the PCM's sampling rate, default the model's) and
``format`` (``s16le``, the default, or ``f32le``). The server answers one JSON ``ready`` message,
then the client sends binary messages of mono little-endian PCM; the server sends
``{"type": "detection", label, start, end, score}`` as soon as the detector fires (times in seconds
from the first sample), ``{"type": "progress", "seconds"}`` about once a second of audio, and, after
the client's text message ``{"type": "end"}``, the last detections and ``{"type": "end", "seconds"}``
before it closes. Anything wrong is one ``{"type": "error", "status", "error"}`` message (the HTTP
status the same fault gets from the HTTP API) and a close with a WebSocket code.

A wake-word model (``is_detector``) streams its own frames; any other served model runs window by
window behind the VAD (``StreamingClassifier``). The detector works in a worker thread, one message
at a time: a client sending faster than it is served is slowed by TCP, never the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from audiosift.errors import AudiosiftError
from audiosift.server.models import ZERO_SHOT, ServedModel

logger = logging.getLogger("audiosift.server")

LISTEN_PATH = "/v1/listen"
FORMATS = {"s16le": np.dtype("<i2"), "f32le": np.dtype("<f4")}
MIN_RATE, MAX_RATE = 8000, 96000
PROGRESS_EVERY_S = 1.0
MAX_QUERY_LABELS = 100

# WebSocket close codes (RFC 6455 section 7.4.1).
CLOSE_NORMAL, CLOSE_UNSUPPORTED, CLOSE_POLICY, CLOSE_TOO_BIG = 1000, 1003, 1008, 1009
CLOSE_INTERNAL, CLOSE_TRY_LATER = 1011, 1013


class ListenError(Exception):
    """Ends a listening session: sent as an ``error`` message, then the socket closes with ``code``."""

    def __init__(self, status: int, message: str, code: int = CLOSE_POLICY):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@dataclass
class ListenStats:
    """Counters (touched only on the event loop thread)."""

    active: int = 0
    sessions: int = 0
    rejected_busy: int = 0
    errors: int = 0
    seconds_heard: float = 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "seconds_heard": round(self.seconds_heard, 3)}


def event_dict(event) -> dict:
    return {"label": event.label, "start": round(float(event.start), 3), "end": round(float(event.end), 3),
            "score": float(event.score)}


def detect_clip(served: ServedModel, clip: np.ndarray, top_k: int) -> tuple[list[dict], list[dict]]:
    """A wake-word model over a whole decoded clip: ``(predictions, detections)``. The predictions are
    each label's highest frame score (how close it came to firing), best first."""
    from audiosift.inference.detector import WakeWordDetector

    detector = WakeWordDetector(served.model, return_scores=True)
    events, frames = detector(clip)
    last_events, last_frames = detector.flush()
    scores = np.concatenate([frames.scores, last_frames.scores]) if len(last_frames.scores) else frames.scores
    peaks = scores.max(axis=0) if len(scores) else np.zeros(len(frames.labels))
    order = np.argsort(-peaks, kind="stable")[:top_k]
    predictions = [{"label": frames.labels[i], "score": float(peaks[i])} for i in order]
    return predictions, [event_dict(event) for event in [*events, *last_events]]


class ListenSession:
    """One connection's detector, its resampler and its counters (used from worker threads, one call
    at a time)."""

    def __init__(self, served: ServedModel, params):
        self.served = served
        self.format = _choice(params.get("format", "s16le"), FORMATS, "format")
        self.detector = _make_detector(served, params)
        self.rate = _rate(params.get("rate"), self.detector.rate)
        self.resampler = None
        if self.rate != self.detector.rate:
            from audiosift.audio.decode import resample_stream

            self.resampler = resample_stream(self.rate, self.detector.rate)
        self.samples = 0  # received, at the client's rate

    @property
    def seconds(self) -> float:
        return self.samples / self.rate

    def ready(self, config) -> dict:
        return {"type": "ready", "model": self.served.name, "labels": list(self.detector.labels),
                "rate": self.rate, "format": self.format, "detector": "wake-word" if self.served.detector else "vad",
                "max_message_bytes": config.listen_max_message_bytes, "max_seconds": config.listen_max_seconds,
                "idle_timeout_s": config.listen_idle_timeout_s}

    def samples_of(self, data: bytes) -> np.ndarray:
        dtype = FORMATS[self.format]
        if len(data) % dtype.itemsize:
            raise ListenError(422, f"a {self.format} message must hold whole samples ({dtype.itemsize} bytes "
                                   f"each); got {len(data)} bytes", CLOSE_UNSUPPORTED)
        samples = np.frombuffer(data, dtype=dtype).astype(np.float32)
        if self.format == "s16le":
            samples /= 32768.0
        elif not np.all(np.isfinite(samples)):
            raise ListenError(422, "the audio holds NaN or infinite samples", CLOSE_UNSUPPORTED)
        return samples

    def push(self, samples: np.ndarray) -> list[dict]:
        self.samples += len(samples)
        if self.resampler is not None:
            samples = self.resampler.resample_chunk(samples)
        return [event_dict(event) for event in self.detector(samples)]

    def flush(self) -> list[dict]:
        events = []
        if self.resampler is not None:
            events += self.detector(self.resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        events += self.detector.flush()
        return [event_dict(event) for event in events]


def _make_detector(served: ServedModel, params):
    """The model's detector with the query's labels and threshold; bad values are the client's (422)."""
    from audiosift.inference.detector import live_detector

    labels = _labels(params.get("labels"))
    threshold = _threshold(params.get("threshold"))
    if served.kind == ZERO_SHOT and not labels:
        raise ListenError(422, f"model {served.name!r} is zero-shot: give the labels to listen for, "
                               f"e.g. labels=dog barking,doorbell")
    try:
        return live_detector(served.model, labels=labels, threshold=threshold)
    except (AudiosiftError, ValueError, KeyError) as error:
        raise ListenError(422, f"model {served.name!r}: {error}") from error


def _labels(text: str | None) -> list[str] | None:
    if not text:
        return None
    labels = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if len(labels) > MAX_QUERY_LABELS:
        raise ListenError(422, f"{len(labels)} labels sent; at most {MAX_QUERY_LABELS}")
    return labels or None


def _threshold(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value <= 1.0:  # `not` refuses NaN too
        raise ListenError(422, f"threshold must be a number in (0, 1], got {text[:20]!r}")
    return value


def _rate(text: str | None, default: int) -> int:
    if text is None or text == "":
        return default
    if not text.isdigit() or not MIN_RATE <= int(text) <= MAX_RATE:
        raise ListenError(422, f"rate must be a whole number of Hz from {MIN_RATE} to {MAX_RATE}, got {text[:20]!r}")
    return int(text)


def _choice(text: str, choices: dict, name: str) -> str:
    if text not in choices:
        raise ListenError(422, f"{name} must be one of {', '.join(choices)}, got {text[:20]!r}")
    return text


def install_listen(app, state) -> None:
    """Register ``/v1/listen`` on ``app``, using ``state`` (the app's ServerState)."""
    stats = state.listen_stats

    @app.websocket(LISTEN_PATH)
    async def listen(websocket: WebSocket):
        await websocket.accept()
        try:
            _refuse_other_origins(websocket)
            if stats.active >= state.config.max_listen_sessions:
                stats.rejected_busy += 1
                raise ListenError(503, f"the server is busy ({stats.active} listening sessions); retry later",
                                  CLOSE_TRY_LATER)
            stats.active += 1
            stats.sessions += 1
            try:
                await _serve(websocket, state)
            finally:
                stats.active -= 1
        except ListenError as error:
            stats.errors += 1
            await _send_error(websocket, error)
        except WebSocketDisconnect:
            pass  # the client went away: nothing to answer
        except Exception as error:  # noqa: BLE001 - a bug: the client is told, the log has the details
            logger.exception("internal error on %s", LISTEN_PATH)
            stats.errors += 1
            await _send_error(websocket, ListenError(500, f"internal server error ({type(error).__name__}); "
                                                          f"the server log has the details", CLOSE_INTERNAL))


def _refuse_other_origins(websocket: WebSocket) -> None:
    """Browsers send ``Origin`` on every WebSocket and let any page open one (no same-origin rule),
    so a page on another site could listen through this server: only its own page may. Clients
    that are not browsers send no Origin and are bounded like the HTTP API."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return
    host = websocket.headers.get("host", "").lower()
    if urlsplit(origin).netloc.lower() != host:
        raise ListenError(403, f"a WebSocket from another site ({origin[:80]}) is refused: open the page this "
                               f"server serves at http://{host}/", CLOSE_POLICY)


async def _serve(websocket: WebSocket, state) -> None:
    params = websocket.query_params
    served = _served(state, params.get("model"))
    # Building a detector loads the VAD or embeds zero-shot labels: CPU work, off the event loop.
    session = await run_in_threadpool(_open_session, served, params)
    config = state.config
    await websocket.send_json(session.ready(config))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + config.listen_max_seconds
    reported = 0.0
    while True:
        message = await _receive(websocket, deadline - loop.time(), config)
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", CLOSE_NORMAL))
        if message.get("bytes") is not None:
            await _on_audio(websocket, state, session, message["bytes"])
            if session.seconds - reported >= PROGRESS_EVERY_S:
                reported = session.seconds
                await websocket.send_json({"type": "progress", "seconds": round(reported, 3)})
        elif _is_end(message.get("text")):
            await _send_events(websocket, await run_in_threadpool(session.flush))
            await websocket.send_json({"type": "end", "seconds": round(session.seconds, 3)})
            await websocket.close(CLOSE_NORMAL)
            return


def _served(state, name: str | None) -> ServedModel:
    if not name:
        detectors = [model for model in state.served.values() if model.detector]
        if not detectors:
            raise ListenError(422, f"name a model: model=NAME (served: {', '.join(state.served)})")
        return detectors[0]
    if name not in state.served:
        raise ListenError(404, f"model {name[:64]!r} is not served here; served models: {', '.join(state.served)}")
    return state.served[name]


def _open_session(served: ServedModel, params) -> ListenSession:
    return ListenSession(served, params)


async def _receive(websocket: WebSocket, left: float, config) -> dict:
    """The next message, within the idle timeout and the session's time limit."""
    if left <= 0:
        raise ListenError(408, f"the session reached its limit of {config.listen_max_seconds:g} s; reconnect "
                               f"to go on listening")
    try:
        return await asyncio.wait_for(websocket.receive(), min(config.listen_idle_timeout_s, left))
    except asyncio.TimeoutError:
        if left <= config.listen_idle_timeout_s:
            return await _receive(websocket, 0, config)
        raise ListenError(408, f"nothing arrived for {config.listen_idle_timeout_s:g} s; send audio "
                               f"continuously, or {{\"type\": \"end\"}} to finish") from None


async def _on_audio(websocket: WebSocket, state, session: ListenSession, data: bytes) -> None:
    config = state.config
    if len(data) > config.listen_max_message_bytes:
        raise ListenError(413, f"a message holds {len(data)} bytes; at most {config.listen_max_message_bytes} "
                               f"(send ~0.1 s of audio per message)", CLOSE_TOO_BIG)
    samples = session.samples_of(data)
    if session.seconds + len(samples) / session.rate > config.listen_max_seconds:
        await _send_events(websocket, await run_in_threadpool(session.flush))  # what was heard still counts
        raise ListenError(413, f"the session reached its limit of {config.listen_max_seconds:g} s of audio; "
                               f"reconnect to go on listening")
    state.listen_stats.seconds_heard += len(samples) / session.rate
    await _send_events(websocket, await run_in_threadpool(session.push, samples))


def _is_end(text: str | None) -> bool:
    if text is None:
        return False
    try:
        message = json.loads(text)
    except json.JSONDecodeError:
        message = None
    if isinstance(message, dict) and message.get("type") == "end":
        return True
    raise ListenError(422, 'text messages must be {"type": "end"}; send audio as binary messages',
                      CLOSE_UNSUPPORTED)


async def _send_events(websocket: WebSocket, events: list[dict]) -> None:
    for event in events:
        await websocket.send_json({"type": "detection", **event})


async def _send_error(websocket: WebSocket, error: ListenError) -> None:
    logger.info("listen session ended: %d %s", error.status, error.message)
    try:
        await websocket.send_json({"type": "error", "status": error.status, "error": error.message})
        await websocket.close(error.code)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client is gone already
