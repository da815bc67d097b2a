"""``audiosift serve``: the HTTP API and web page, serving only the models named at start-up."""

from __future__ import annotations

import importlib.util
import ipaddress
import sys
import warnings

from audiosift.cli.common import add_backend_argument, positive_int
from audiosift.inference.classifier import LongClipWarning
from audiosift.inference.options import DEVICES, DTYPES
from audiosift.server.config import (
    DEFAULT_BATCH_WAIT_MS,
    DEFAULT_MAX_AUDIO_SECONDS,
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_CACHED_PROMPTS,
    DEFAULT_MAX_CONCURRENT_REQUESTS,
    DEFAULT_MAX_PENDING_UPLOADS,
    DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_MODELS,
    DEFAULT_UPLOAD_IDLE_TIMEOUT_S,
    DEFAULT_UPLOAD_TIMEOUT_S,
    MIB,
    ServerConfig,
    parse_model_specs,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve an HTTP API and a web page (upload, record, listen, classify)",
        description="Serve the models named with --model over HTTP: POST /v1/classify, POST /v1/zero-shot, "
                    "GET /v1/models, the interactive API docs at /docs and a web page at /. Only these "
                    "models are ever loaded; requests choose among them by name. Without --model: "
                    f"{', '.join(DEFAULT_MODELS)} (those that cannot be loaded are skipped).")
    parser.add_argument("--model", "-m", action="append", default=None, metavar="NAME=MODEL",
                        help="serve MODEL (preset, hub id or local folder) under NAME; repeat for more models. "
                             "A bare preset name is served under its own name")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; "
                             "0.0.0.0 for every interface)")
    parser.add_argument("--port", type=positive_int, default=8000, help="port (default: 8000)")
    parser.add_argument("--device", default="auto", choices=DEVICES, help="where the models run (default: auto)")
    parser.add_argument("--dtype", default="float32", choices=DTYPES, help="model precision (default: float32)")
    add_backend_argument(parser)
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="torch threads for the models (default: torch's choice, one per core); fewer "
                             "can be faster on a machine busy with other work")
    limits = parser.add_argument_group("limits")
    limits.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_BYTES / MIB,
                        help=f"largest request body in MiB (default: {DEFAULT_MAX_UPLOAD_BYTES // MIB})")
    limits.add_argument("--max-audio-seconds", type=float, default=DEFAULT_MAX_AUDIO_SECONDS,
                        help=f"longest clip accepted (default: {DEFAULT_MAX_AUDIO_SECONDS:g})")
    limits.add_argument("--max-concurrent", type=positive_int, default=DEFAULT_MAX_CONCURRENT_REQUESTS,
                        help="requests decoding or running at once (an upload holds no slot until its body "
                             "is in); more get 503 + Retry-After "
                             f"(default: {DEFAULT_MAX_CONCURRENT_REQUESTS})")
    limits.add_argument("--upload-timeout", type=float, default=DEFAULT_UPLOAD_TIMEOUT_S, metavar="SECONDS",
                        help="time a request body may take to arrive; slower ones get 408 "
                             f"(default: {DEFAULT_UPLOAD_TIMEOUT_S:g})")
    limits.add_argument("--upload-idle-timeout", type=float, default=DEFAULT_UPLOAD_IDLE_TIMEOUT_S,
                        metavar="SECONDS", help="longest pause while a body arrives; a body that stops short "
                                                f"of its Content-Length gets 400 (default: "
                                                f"{DEFAULT_UPLOAD_IDLE_TIMEOUT_S:g})")
    limits.add_argument("--max-uploads", type=positive_int, default=DEFAULT_MAX_PENDING_UPLOADS,
                        help="request bodies received at once; more get 503 + Retry-After "
                             f"(default: {DEFAULT_MAX_PENDING_UPLOADS})")
    limits.add_argument("--max-cached-prompts", type=positive_int, default=DEFAULT_MAX_CACHED_PROMPTS,
                        help="zero-shot prompt embeddings kept in memory per model, least recently used "
                             f"dropped first (default: {DEFAULT_MAX_CACHED_PROMPTS})")
    batching = parser.add_argument_group("micro-batching")
    batching.add_argument("--batch-wait-ms", type=float, default=DEFAULT_BATCH_WAIT_MS,
                          help="how long to collect concurrent requests for one forward "
                               f"(default: {DEFAULT_BATCH_WAIT_MS:g})")
    batching.add_argument("--max-batch-size", type=positive_int, default=DEFAULT_MAX_BATCH_SIZE,
                          help=f"most clips in one forward; 1 turns batching off (default: {DEFAULT_MAX_BATCH_SIZE})")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                        help="uvicorn's log level (default: info)")
    parser.set_defaults(run=run)


def config_from_args(args) -> ServerConfig:
    try:
        models = parse_model_specs(args.model) if args.model else {name: name for name in DEFAULT_MODELS}
        return ServerConfig(models=models, host=args.host, port=args.port,
                            max_upload_bytes=max(1, int(args.max_upload_mb * MIB)),
                            max_audio_seconds=args.max_audio_seconds, max_concurrent_requests=args.max_concurrent,
                            upload_timeout_s=args.upload_timeout, upload_idle_timeout_s=args.upload_idle_timeout,
                            max_pending_uploads=args.max_uploads, max_cached_prompts=args.max_cached_prompts,
                            batch_wait_ms=args.batch_wait_ms, max_batch_size=args.max_batch_size,
                            device=args.device, dtype=args.dtype, backend=args.backend,
                            skip_unavailable=not args.model)
    except ValueError as error:
        raise SystemExit(f"audiosift serve: error: {error}") from error


def run(args) -> int:
    try:
        import uvicorn

        from audiosift.server.app import create_app
    except ImportError as error:
        raise SystemExit(f"audiosift serve needs the server extra: pip install 'audiosift[server]' "
                         f"({error})") from error
    config = config_from_args(args)
    # Responses carry the long-clip note in "warnings"; the log need not repeat it per request.
    warnings.filterwarnings("ignore", category=LongClipWarning)
    if not _is_loopback(config.host):
        print(f"audiosift serve: listening on {config.host}: anyone who can reach this machine can use the API "
              f"(there is no authentication; put a reverse proxy in front for that)", file=sys.stderr)
    if args.threads and importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(args.threads)
    app = create_app(config)
    names = ", ".join(f"{name} ({model.kind})" for name, model in app.state.audiosift.served.items())
    print(f"audiosift serve: serving {names} on http://{_url_host(config.host)}:{config.port}/ "
          f"(API docs at /docs)", file=sys.stderr)
    # ws_max_size: the WebSocket layer refuses an oversized /v1/listen message (close 1009) before it is
    # buffered whole (uvicorn's default is 16 MiB); the app checks the same limit with a clear message.
    uvicorn.run(app, host=config.host, port=config.port, log_level=args.log_level,
                ws_max_size=config.listen_max_message_bytes + 1024)
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
