"""Request limits, enforced before any work is done.

``RequestLimits`` is a plain ASGI middleware in front of the inference endpoints:
- concurrency: at most ``max_concurrent`` inference requests at once; one more gets 503 with
  ``Retry-After`` at once, before its body is read;
- size: a ``Content-Length`` over the limit gets 413 before the body is read, and the body is
  counted while it streams in (chunked uploads have no length), so an oversized upload is cut off
  at the limit instead of being read whole.

``probe_seconds`` estimates an upload's duration from its header (libsndfile) or its packets'
timestamps (FFmpeg demuxing, no decoding), so a long recording is refused before it is decoded into
memory. The exact duration is checked again after decoding.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass

from audiosift.server.errors import error_body

LIMITED_PATHS = frozenset({"/v1/classify", "/v1/zero-shot"})


class BodyTooLarge(Exception):
    """Raised from ``receive`` once the streamed body passes the limit."""


@dataclass
class LimitStats:
    """Counters shared with the app (touched only on the event loop thread: no lock needed)."""

    in_flight: int = 0
    rejected_busy: int = 0
    rejected_too_large: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


class RequestLimits:
    def __init__(self, app, *, max_body_bytes: int, max_concurrent: int, retry_after_s: int, stats: LimitStats):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_concurrent = max_concurrent
        self.retry_after_s = retry_after_s
        self.stats = stats

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in LIMITED_PATHS or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        stats = self.stats
        if stats.in_flight >= self.max_concurrent:
            stats.rejected_busy += 1
            await _send_json(send, 503, f"the server is busy ({self.max_concurrent} requests in progress); "
                                        f"retry in {self.retry_after_s} s",
                             [(b"retry-after", str(self.retry_after_s).encode())])
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            stats.rejected_too_large += 1
            await _send_json(send, 413, self._too_large_message(f"{declared} bytes"))
            return
        stats.in_flight += 1
        try:
            await self._call_counting(scope, receive, send)
        finally:
            stats.in_flight -= 1

    async def _call_counting(self, scope, receive, send):
        received = 0
        response_started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message):
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            self.stats.rejected_too_large += 1
            if not response_started:
                await _send_json(send, 413, self._too_large_message(f"more than {self.max_body_bytes} bytes"))

    def _too_large_message(self, size: str) -> str:
        return (f"the upload is too large ({size}); this server accepts at most {self.max_body_bytes} bytes "
                f"({self.max_body_bytes / 2 ** 20:.1f} MiB) per request: send a shorter or compressed clip")


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
