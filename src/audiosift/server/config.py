"""Server options in one frozen dataclass, checked in one place (no fastapi import here)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from audiosift.errors import UsageError
from audiosift.inference.options import RuntimeOptions

# What `audiosift serve` loads when the operator names no model: the offline speech detector, the
# keyword spotter and the zero-shot model (the light presets; intent and language are ~300M
# parameters each and are served only when named). A default model that cannot be loaded (not in
# the cache, no hub) is skipped with a warning; a model the operator names must load.
DEFAULT_MODELS = ("speech", "keywords", "zero-shot")

MIB = 1024 * 1024
# 20 MiB holds 60 s of 48 kHz stereo 24-bit wav (60 * 48000 * 2 * 3 = 17.3 MB) with room to spare.
DEFAULT_MAX_UPLOAD_BYTES = 20 * MIB
DEFAULT_MAX_AUDIO_SECONDS = 60.0
DEFAULT_MAX_CONCURRENT_REQUESTS = 16
# A request body must arrive within DEFAULT_UPLOAD_TIMEOUT_S in all (20 MiB in 60 s is 2.8 Mbit/s, a
# slow mobile uplink) and never pause longer than DEFAULT_UPLOAD_IDLE_TIMEOUT_S: a client that stalls
# is answered 400/408 and cut off instead of holding a connection and its buffer for ever.
DEFAULT_UPLOAD_TIMEOUT_S = 60.0
DEFAULT_UPLOAD_IDLE_TIMEOUT_S = 10.0
# Bodies being received at once (each buffered up to max_upload_bytes: 64 x 20 MiB = 1.25 GiB at worst).
# They hold no inference slot: 4x DEFAULT_MAX_CONCURRENT_REQUESTS, so uploads keep the workers fed.
DEFAULT_MAX_PENDING_UPLOADS = 64
# Zero-shot prompt embeddings kept in memory per model (least recently used go first): a full request
# is 100 labels x 10 templates = 1000 prompts, so 4096 holds four such label sets; at CLAP's 512
# float32 dimensions that is 8 MiB.
DEFAULT_MAX_CACHED_PROMPTS = 4096
DEFAULT_BATCH_WAIT_MS = 5.0
DEFAULT_MAX_BATCH_SIZE = 8
# Zero-shot requests: how many candidate labels and templates one request may send, and how long
# each may be (the text tower encodes every label x template pair).
MAX_ZERO_SHOT_LABELS = 100
MAX_TEMPLATES = 10
MAX_LABEL_CHARS = 200

# Live listening (WebSocket /v1/listen): one message holds at most 256 KiB (1 s of 48 kHz float32 is
# 188 KiB; the page sends ~0.1 s), a session at most 10 min of audio and of wall-clock time, a
# silent client is cut off after 10 s, and 8 sessions run at once (each holds a detector and, per
# message, a worker thread).
DEFAULT_LISTEN_MAX_MESSAGE_BYTES = 256 * 1024
DEFAULT_LISTEN_MAX_SECONDS = 600.0
DEFAULT_LISTEN_IDLE_TIMEOUT_S = 10.0
DEFAULT_MAX_LISTEN_SESSIONS = 8

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


@dataclass(frozen=True)
class ServerConfig:
    """What the server serves and its limits.

    ``models`` maps the name clients use (``?model=NAME``) to what ``audiosift.load`` takes (a preset,
    hub id or local folder). Only these models are ever loaded; a request can only choose among them.
    """

    models: Mapping[str, str] = field(default_factory=lambda: {name: name for name in DEFAULT_MODELS})
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_audio_seconds: float = DEFAULT_MAX_AUDIO_SECONDS
    max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS
    batch_wait_ms: float = DEFAULT_BATCH_WAIT_MS
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    retry_after_s: int = 1  # what a client told "busy" (503) should wait before trying again
    upload_timeout_s: float = DEFAULT_UPLOAD_TIMEOUT_S
    upload_idle_timeout_s: float = DEFAULT_UPLOAD_IDLE_TIMEOUT_S
    max_pending_uploads: int = DEFAULT_MAX_PENDING_UPLOADS
    max_cached_prompts: int = DEFAULT_MAX_CACHED_PROMPTS
    listen_max_message_bytes: int = DEFAULT_LISTEN_MAX_MESSAGE_BYTES
    listen_max_seconds: float = DEFAULT_LISTEN_MAX_SECONDS
    listen_idle_timeout_s: float = DEFAULT_LISTEN_IDLE_TIMEOUT_S
    max_listen_sessions: int = DEFAULT_MAX_LISTEN_SESSIONS
    device: str = "auto"
    dtype: str = "float32"
    backend: str = "auto"  # one of inference.options.BACKENDS: onnx exports each model once (cached)
    skip_unavailable: bool = False  # skip models that fail to load (used for the default set)

    def __post_init__(self):
        if not self.models:
            raise UsageError("serve at least one model: models={'name': 'preset, hub id or folder'}")
        for name, model in self.models.items():
            if not isinstance(name, str) or not MODEL_NAME.match(name):
                raise UsageError(f"model name {name!r} must be 1-64 letters, digits, '_', '-' or '.'")
            if not isinstance(model, str) or not model:
                raise UsageError(f"model {name!r}: expected a preset, hub id or folder, got {model!r}")
        object.__setattr__(self, "models", MappingProxyType(dict(self.models)))
        _check_positive("port", self.port, int)
        if self.port > 65535:
            raise UsageError(f"port must be at most 65535, got {self.port}")
        _check_positive("max_upload_bytes", self.max_upload_bytes, int)
        _check_positive("max_audio_seconds", self.max_audio_seconds, (int, float))
        _check_positive("max_concurrent_requests", self.max_concurrent_requests, int)
        _check_positive("max_batch_size", self.max_batch_size, int)
        _check_positive("retry_after_s", self.retry_after_s, int)
        _check_positive("upload_timeout_s", self.upload_timeout_s, (int, float))
        _check_positive("upload_idle_timeout_s", self.upload_idle_timeout_s, (int, float))
        _check_positive("max_pending_uploads", self.max_pending_uploads, int)
        _check_positive("max_cached_prompts", self.max_cached_prompts, int)
        _check_positive("listen_max_message_bytes", self.listen_max_message_bytes, int)
        _check_positive("listen_max_seconds", self.listen_max_seconds, (int, float))
        _check_positive("listen_idle_timeout_s", self.listen_idle_timeout_s, (int, float))
        _check_positive("max_listen_sessions", self.max_listen_sessions, int)
        if not isinstance(self.batch_wait_ms, (int, float)) or self.batch_wait_ms < 0:
            raise UsageError(f"batch_wait_ms must be a number >= 0, got {self.batch_wait_ms!r}")
        self.runtime  # device, dtype and backend: checked where every command checks them

    @property
    def runtime(self) -> RuntimeOptions:
        """How the served models run; batches hold at most ``max_batch_size`` clips."""
        return RuntimeOptions(device=self.device, dtype=self.dtype, batch_size=self.max_batch_size,
                              backend=self.backend)

    def limits(self) -> dict:
        """The limits clients may want to know (shown by ``GET /v1/models`` and the web page)."""
        return {
            "max_upload_bytes": self.max_upload_bytes,
            "max_audio_seconds": self.max_audio_seconds,
            "max_concurrent_requests": self.max_concurrent_requests,
            "max_zero_shot_labels": MAX_ZERO_SHOT_LABELS,
            "upload_timeout_s": self.upload_timeout_s,
            "upload_idle_timeout_s": self.upload_idle_timeout_s,
            "listen_max_message_bytes": self.listen_max_message_bytes,
            "listen_max_seconds": self.listen_max_seconds,
            "listen_idle_timeout_s": self.listen_idle_timeout_s,
            "max_listen_sessions": self.max_listen_sessions,
        }


def _check_positive(name: str, value, kinds) -> None:
    if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:  # `not >` refuses NaN too
        raise UsageError(f"{name} must be a positive number, got {value!r}")


def parse_model_specs(specs: Iterable[str]) -> dict[str, str]:
    """``["kw=keywords", "mine=/models/ast", "speech"]`` -> ``{"kw": "keywords", ...}``.

    A spec without ``NAME=`` is named after itself (a preset) or its folder's name (a path).
    """
    models: dict[str, str] = {}
    for spec in specs:
        name, sep, model = spec.partition("=")
        if not sep:
            model = spec
            name = Path(spec.rstrip("/\\")).name if ("/" in spec or "\\" in spec) else spec
        name, model = name.strip(), model.strip()
        if not name or not model:
            raise UsageError(f"expected NAME=MODEL (e.g. kw=keywords or mine=/path/to/folder), got {spec!r}")
        if name in models:
            raise UsageError(f"model name {name!r} given twice; each served model needs its own name")
        models[name] = model
    return models
