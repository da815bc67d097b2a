"""The HTTP API and web page: ``create_app(ServerConfig(...))`` -> a FastAPI app.

Endpoints (see ``docs/serving.md`` and ``/docs``):
- ``POST /v1/classify?model=NAME&top_k=K``: audio as a multipart ``file`` field or the raw body;
- ``POST /v1/zero-shot?model=NAME``: audio + ``labels`` (+ optional ``templates``);
- ``WS /v1/listen?model=NAME``: live detection on streamed PCM (see ``server/listen.py``);
- ``GET /v1/models``, ``GET /v1/stats``, ``GET /healthz``, ``GET /docs``, and the page at ``/``.

A wake-word model on ``/v1/classify`` also reports its ``detections`` with their times.

Request flow: the limits middleware admits the request (size, upload time, concurrency) and reads
its body, the audio is decoded in a worker thread (decoding is CPU work and must not block the event
loop), then the model's micro-batcher scores it together with whatever other requests arrived meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import asynccontextmanager
from importlib.resources import files

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from audiosift import __version__
from audiosift.inference.classifier import LONG_CLIP_FACTOR
from audiosift.inference.engine import top_k_predictions
from audiosift.server.config import ServerConfig
from audiosift.server.docs import install_docs
from audiosift.server.errors import ApiError, install_error_handlers
from audiosift.server.limits import LimitStats, RequestLimits, UploadLimits
from audiosift.server.listen import ListenStats, detect_clip, install_listen
from audiosift.server.models import CLASSIFIER, ZERO_SHOT, ServedModel, ZeroShotItem, load_models, serve_models
from audiosift.server.uploads import parse_labels, parse_templates, prepare_audio, read_request_audio, text_values

STATIC_FOLDER = files("audiosift.server") / "static"
MAX_TOP_K = 1000

# The request body, for the OpenAPI docs: FastAPI cannot infer it since the route reads the body
# itself (to accept both multipart and raw audio, and to enforce the limits while it streams in).
_AUDIO_FILE = {"type": "string", "format": "binary",
               "description": "the audio clip (wav, flac, ogg, mp3, webm, m4a...)"}
_TEXT_LIST = {"type": "array", "items": {"type": "string"}}


def _audio_body(extra_fields: dict | None = None) -> dict:
    properties = {"file": _AUDIO_FILE, **(extra_fields or {})}
    return {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": properties}},
        "application/octet-stream": {"schema": _AUDIO_FILE},
    }}}


_ZERO_SHOT_FIELDS = {
    "labels": dict(_TEXT_LIST, description="candidate labels (or one comma-separated string)"),
    "templates": dict(_TEXT_LIST, description="prompt templates with '{}' for the label, or 'ensemble'"),
}


class Prediction(BaseModel):
    label: str
    score: float


class Detection(BaseModel):
    label: str
    start: float
    end: float
    score: float


class PredictionResponse(BaseModel):
    model: str
    predictions: list[Prediction]
    duration_s: float
    warnings: list[str] = []
    detections: list[Detection] | None = None  # wake-word models only (left out for the others)


class ServerState:
    """What the routes share: the config, the served models and the limit counters."""

    def __init__(self, config: ServerConfig, served: dict[str, ServedModel]):
        self.config = config
        self.served = served
        self.limit_stats = LimitStats()
        self.listen_stats = ListenStats()

    def pick(self, name: str | None, kind: str) -> ServedModel:
        """The model a request asked for (or the first of the endpoint's kind), checked."""
        names = ", ".join(self.served)
        if name is None:
            model = next((m for m in self.served.values() if m.kind == kind), None)
            if model is None:
                raise ApiError(422, f"this server serves no {kind} model (served: {names})")
            return model
        if name not in self.served:
            raise ApiError(404, f"model {name!r} is not served here; served models: {names} (GET /v1/models)")
        model = self.served[name]
        if model.kind != kind:
            endpoint = "/v1/zero-shot with labels" if model.kind == ZERO_SHOT else "/v1/classify"
            raise ApiError(422, f"model {name!r} is a {model.kind} model: use POST {endpoint}")
        return model

    async def decode(self, model: ServedModel, upload):
        return await run_in_threadpool(prepare_audio, model.model, upload, self.config.max_audio_seconds)

    def close(self) -> None:
        for model in self.served.values():
            model.close()


def create_app(config: ServerConfig | None = None, models: Mapping[str, object] | None = None) -> FastAPI:
    """A FastAPI app serving ``config.models`` (loaded here), or the already-loaded ``models`` by name.

    The models' worker threads stop when the app shuts down (its lifespan), or with
    ``app.state.audiosift.close()`` where no lifespan runs.
    """
    config = config or ServerConfig()
    state = ServerState(config, serve_models(models if models is not None else load_models(config), config))

    @asynccontextmanager
    async def lifespan(_app):
        yield
        state.close()

    app = FastAPI(title="audiosift", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="Classify audio with pre-trained models. The web page is at `/`.")
    app.state.audiosift = state
    app.add_middleware(RequestLimits, stats=state.limit_stats, limits=UploadLimits(
        max_body_bytes=config.max_upload_bytes, max_concurrent=config.max_concurrent_requests,
        max_uploads=config.max_pending_uploads, timeout_s=config.upload_timeout_s,
        idle_timeout_s=config.upload_idle_timeout_s, retry_after_s=config.retry_after_s))
    install_error_handlers(app)
    install_docs(app)
    app.mount("/static", StaticFiles(directory=str(STATIC_FOLDER)), name="static")
    _add_info_routes(app, state)
    _add_inference_routes(app, state)
    install_listen(app, state)
    return app


def _add_info_routes(app: FastAPI, state: ServerState) -> None:
    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(str(STATIC_FOLDER / "index.html"), media_type="text/html")

    @app.get("/healthz", summary="liveness: ok when the server answers")
    async def healthz():
        return {"status": "ok", "models": list(state.served)}

    @app.get("/v1/models", summary="the served models: name, kind, labels, sampling rate; and the limits")
    async def list_models():
        return {"models": [model.describe() for model in state.served.values()], "limits": state.config.limits()}

    @app.get("/v1/stats", summary="micro-batching and limit counters")
    async def stats():
        return {"models": {name: model.batcher.stats_snapshot() for name, model in state.served.items()},
                "requests": state.limit_stats.as_dict(), "listen": state.listen_stats.as_dict()}


def _add_inference_routes(app: FastAPI, state: ServerState) -> None:
    @app.post("/v1/classify", response_model=PredictionResponse, openapi_extra=_audio_body(),
              response_model_exclude_none=True,
              summary="top-k labels of a clip, with a fixed-label model (wake words: and their detections)")
    async def classify(request: Request,
                       model: str | None = Query(None, description="a served model (default: the first classifier)"),
                       top_k: int = Query(5, ge=1, le=MAX_TOP_K, description="how many labels to return")):
        served = state.pick(model, CLASSIFIER)
        if served.detector:
            return await _detections(state, served, await read_request_audio(request), top_k)
        waveform, seconds = await state.decode(served, await read_request_audio(request))
        scores = await served.batcher.run(waveform)
        return _response(served, seconds, top_k_predictions(scores, served.labels, top_k))

    @app.post("/v1/zero-shot", response_model=PredictionResponse, openapi_extra=_audio_body(_ZERO_SHOT_FIELDS),
              summary="scores of a clip against labels you choose, with a zero-shot (CLAP) model")
    async def zero_shot(request: Request,
                        model: str | None = Query(None, description="a served zero-shot model (default: the first)"),
                        top_k: int | None = Query(None, ge=1, le=MAX_TOP_K, description="default: all labels"),
                        labels: list[str] = Query([], description="labels, when the body is raw audio"),
                        templates: list[str] = Query([], description="templates, when the body is raw audio")):
        served = state.pick(model, ZERO_SHOT)
        upload = await read_request_audio(request)
        label_set = parse_labels(text_values(upload.form, labels, "labels"))
        prompt_templates = parse_templates(text_values(upload.form, templates, "templates"))
        waveform, seconds = await state.decode(served, upload)
        scores = await served.batcher.run(ZeroShotItem(waveform, label_set, prompt_templates))
        return _response(served, seconds, top_k_predictions(scores, list(label_set), top_k))


async def _detections(state: ServerState, served: ServedModel, upload, top_k: int) -> dict:
    """A wake-word model scans the whole clip (not one window), off the event loop."""
    clip, seconds = await run_in_threadpool(prepare_audio, served.model, upload, state.config.max_audio_seconds, True)
    predictions, detections = await run_in_threadpool(detect_clip, served, clip, top_k)
    return {"model": served.name, "predictions": predictions, "detections": detections,
            "duration_s": round(seconds, 3), "warnings": []}


def _response(served: ServedModel, seconds: float, predictions: list[dict]) -> dict:
    return {"model": served.name, "predictions": predictions, "duration_s": round(seconds, 3),
            "warnings": _clip_warnings(served, seconds)}


def _clip_warnings(served: ServedModel, seconds: float) -> list[str]:
    window = served.model.window_seconds
    if served.kind == CLASSIFIER and window and seconds > LONG_CLIP_FACTOR * window:
        return [f"the clip is {seconds:.1f} s long but this model looks only at its first {window:g} s"]
    return []
