"""Request limits, enforced before any work is done.

``RequestLimits`` is a plain ASGI middleware in front of the inference endpoints. It reads the whole
body itself, then hands it to the app:
- size: a ``Content-Length`` over the limit gets 413 before the body is read, and the body is
  counted while it streams in (chunked uploads have no length), so an oversized upload is cut off
  at the limit instead of being read whole;
- time: the body must arrive within ``upload_timeout_s`` and never pause for ``upload_idle_timeout_s``;
  a stalled body with a ``Content-Length`` gets 400 (shorter than declared), others 408, and the
  connection is closed. A client that goes away mid-upload costs one log line;
- concurrency: at most ``max_concurrent`` requests decode or run at once, and a slot is taken only
  once the body is in (a slow client holds no slot); at most ``max_uploads`` bodies are received at
  once. Past either limit: 503 with ``Retry-After``.

``probe_seconds`` estimates an upload's duration from its header (libsndfile) or its packets'
timestamps (FFmpeg demuxing, no decoding), so a long recording is refused before it is decoded. It is
only a shortcut: a container can claim anything, so the decoder also counts what it decodes.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from dataclasses import asdict, dataclass

from audiosift.server.errors import error_body

LIMITED_PATHS = frozenset({"/v1/classify", "/v1/zero-shot"})
logger = logging.getLogger("audiosift.server")


@dataclass
class LimitStats:
    """Counters shared with the app (touched only on the event loop thread: no lock needed)."""

    in_flight: int = 0
    uploading: int = 0
    rejected_busy: int = 0
    rejected_too_large: int = 0
    rejected_timeout: int = 0
    rejected_incomplete: int = 0
    client_disconnects: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class UploadLimits:
    max_body_bytes: int
    max_concurrent: int
    max_uploads: int
    timeout_s: float
    idle_timeout_s: float
    retry_after_s: int


class RequestLimits:
    def __init__(self, app, *, limits: UploadLimits, stats: LimitStats):
        self.app = app
        self.limits = limits
        self.stats = stats

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in LIMITED_PATHS or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if await self._refused_busy(send):  # at once, so a busy server does not make clients upload first
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limits.max_body_bytes:
            self.stats.rejected_too_large += 1
            await _send_json(send, 413, self.too_large_message(f"{declared} bytes"), _CLOSE)
            return
        if self.stats.uploading >= self.limits.max_uploads:
            self.stats.rejected_busy += 1
            await self._send_busy(send, f"{self.limits.max_uploads} uploads in progress")
            return
        self.stats.uploading += 1
        try:
            body = await BodyReader(self, scope, receive, send, declared).read()
        finally:
            self.stats.uploading -= 1
        if body is None or await self._refused_busy(send):
            return
        self.stats.in_flight += 1
        try:
            await self.app(scope, _replay(body, receive), send)
        finally:
            self.stats.in_flight -= 1

    async def _refused_busy(self, send) -> bool:
        if self.stats.in_flight < self.limits.max_concurrent:
            return False
        self.stats.rejected_busy += 1
        await self._send_busy(send, f"{self.limits.max_concurrent} requests in progress")
        return True

    async def _send_busy(self, send, what: str) -> None:
        retry = self.limits.retry_after_s
        await _send_json(send, 503, f"the server is busy ({what}); retry in {retry} s",
                         [(b"retry-after", str(retry).encode()), *_CLOSE])

    def too_large_message(self, size: str) -> str:
        limit = self.limits.max_body_bytes
        return (f"the upload is too large ({size}); this server accepts at most {limit} bytes "
                f"({limit / 2 ** 20:.1f} MiB) per request: send a shorter or compressed clip")


class BodyReader:
    """Reads one request body within the size and time limits; None once it has answered or the client left."""

    def __init__(self, owner: RequestLimits, scope, receive, send, declared: int | None):
        self.owner, self.scope, self.receive, self.send, self.declared = owner, scope, receive, send, declared
        self.received = 0

    async def read(self) -> bytes | None:
        limits, stats = self.owner.limits, self.owner.stats
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.timeout_s
        chunks = []
        while True:
            left = deadline - loop.time()
            try:
                message = await asyncio.wait_for(self.receive(), max(0.0, min(limits.idle_timeout_s, left)))
            except asyncio.TimeoutError:
                await self._answer_stalled(total=left <= limits.idle_timeout_s)
                return None
            if message["type"] == "http.disconnect":
                stats.client_disconnects += 1
                logger.warning("client %s went away during its upload to %s after %s: nothing to answer",
                               _client(self.scope), self.scope["path"], self._progress())
                return None
            chunk = message.get("body", b"")
            self.received += len(chunk)
            if self.received > limits.max_body_bytes:
                stats.rejected_too_large += 1
                await _send_json(self.send, 413, self.owner.too_large_message(
                    f"more than {limits.max_body_bytes} bytes"), _CLOSE)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _answer_stalled(self, total: bool) -> None:
        limits, stats = self.owner.limits, self.owner.stats
        if not total and self.declared is not None and self.received:
            stats.rejected_incomplete += 1
            status, message = 400, (
                f"the request body is shorter than its Content-Length: {self._progress()} arrived, then nothing "
                f"for {limits.idle_timeout_s:g} s; send the whole body, or a Content-Length that matches it")
        else:
            stats.rejected_timeout += 1
            why = (f"did not arrive within {limits.timeout_s:g} s" if total
                   else f"stalled (nothing for {limits.idle_timeout_s:g} s)")
            status, message = 408, (f"the upload {why}; {self._progress()} arrived: "
                                    f"send the clip in one go, or a shorter or compressed one")
        logger.warning("client %s: %d on %s: %s", _client(self.scope), status, self.scope["path"], message)
        await _send_json(self.send, status, message, _CLOSE)

    def _progress(self) -> str:
        of = f" of the {self.declared} declared" if self.declared is not None else ""
        return f"{self.received} bytes{of}"


# A response sent before the body was read whole closes the connection: the rest of that body must not
# be parsed as the next request. (The busy answer after a complete body closes too: simpler, and rare.)
_CLOSE = [(b"connection", b"close")]


def _replay(body: bytes, receive):
    """The app's ``receive``: the body read by the middleware, then whatever the client sends next."""
    pending = [body]

    async def replay():
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()
    return replay


def _client(scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "?"


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_json(send, status: int, message: str, headers: list | None = None) -> None:
    body = json.dumps(error_body(status, message)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def probe_seconds(data: bytes) -> float | None:
    """The duration an encoded clip declares, without decoding it; None if it cannot be told."""
    import soundfile

    try:
        info = soundfile.info(io.BytesIO(data))
        if info.samplerate > 0 and info.frames > 0:
            return info.frames / info.samplerate
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        pass  # not a format libsndfile reads
    return _probe_packets(data)


def _probe_packets(data: bytes) -> float | None:
    """End time of the last audio packet (webm from MediaRecorder declares no duration)."""
    import av

    try:
        with av.open(io.BytesIO(data), "r") as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            end = 0
            for packet in container.demux(stream):
                if packet.pts is not None and packet.time_base is not None:
                    end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            return end or None
    except (av.FFmpegError, ValueError, OSError, IndexError):
        return None  # the decoder reports what is wrong with it
