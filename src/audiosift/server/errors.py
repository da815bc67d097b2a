"""Every error the API returns is JSON: ``{"error": "<message>", "status": <code>}``.

Which code for which cause:
- 400: the body is shorter than its ``Content-Length`` (it stopped arriving); a malformed multipart body.
- 404: the model name is not one this server serves; unknown paths.
- 408: the body did not arrive within the upload timeout (a slow or stalled client).
- 413: the request body is over the upload limit, or the audio is longer than the duration limit
  (counted while it is decoded, whatever the container claims).
- 415: the body could not be decoded as audio (not audio, truncated, unknown codec); ``error`` is a
  short sentence for people, ``detail`` the decoder's own words.
- 422: bad parameters (top_k, labels, templates), no audio sent, empty/too-short/NaN audio, a model
  of the wrong kind for the endpoint.
- 503 with ``Retry-After``: the server is at its limit of concurrent requests or uploads.
- 500: a bug; the message says so, the details go to the server's log, and the server goes on.
"""

from __future__ import annotations

import logging

from audiosift.errors import AudioDecodeError, AudiosiftError, AudioTooLongError, InvalidAudioError

logger = logging.getLogger("audiosift.server")


class ApiError(Exception):
    """An error with its HTTP status, raised by the routes and turned into JSON."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class UploadDecodeError(AudioDecodeError):
    """An upload the server could not decode: a friendly message, and the decoder's words in ``detail``."""

    def __init__(self, message: str, detail: str):
        super().__init__(message)
        self.detail = detail


def status_of(error: AudiosiftError) -> int:
    if isinstance(error, AudioTooLongError):
        return 413
    if isinstance(error, AudioDecodeError):
        return 415
    if isinstance(error, InvalidAudioError):
        return 422
    return 422


def error_body(status: int, message: str, detail: str | None = None) -> dict:
    body = {"error": message, "status": status}
    if detail:
        body["detail"] = detail
    return body


def install_error_handlers(app) -> None:
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    @app.exception_handler(ApiError)
    async def api_error(_request, error: ApiError):
        return JSONResponse(error_body(error.status, error.message), error.status, headers=error.headers)

    @app.exception_handler(AudiosiftError)
    async def audiosift_error(_request, error: AudiosiftError):
        status = status_of(error)
        return JSONResponse(error_body(status, str(error), getattr(error, "detail", None)), status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request, error: RequestValidationError):
        return JSONResponse(dict(error_body(422, validation_message(error.errors())),
                                 details=_plain(error.errors())), 422)

    @app.exception_handler(HTTPException)
    async def http_error(_request, error: HTTPException):
        return JSONResponse(error_body(error.status_code, _http_message(error)), error.status_code,
                            headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(request, error: Exception):
        logger.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body(500, f"internal server error ({type(error).__name__}); "
                                            f"the server log has the details"), 500)


def validation_message(errors) -> str:
    """'query parameter top_k: Input should be greater than or equal to 1' (first few errors)."""
    parts = []
    for item in list(errors)[:3]:
        location = [str(part) for part in item.get("loc", ())]
        where = f"{location[0]} parameter {'.'.join(location[1:])}" if len(location) > 1 else ".".join(location)
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _plain(errors) -> list[dict]:
    """Validation errors without the raw input (which may be binary) or exception objects."""
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in errors]


def _http_message(error) -> str:
    if error.status_code == 404:
        return "not found: see /docs for the API, or / for the web page"
    if error.status_code == 405:
        return "method not allowed on this path: see /docs for the API"
    return str(error.detail)
