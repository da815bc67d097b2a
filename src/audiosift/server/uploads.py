"""Reading a request's audio and parameters: multipart ``file`` or a raw body, labels, templates."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import PurePath

import numpy as np

from audiosift.errors import AudioDecodeError, AudiosiftError, AudioTooLongError
from audiosift.server.config import MAX_LABEL_CHARS, MAX_TEMPLATES, MAX_ZERO_SHOT_LABELS
from audiosift.server.errors import ApiError, UploadDecodeError
from audiosift.server.limits import probe_seconds

logger = logging.getLogger("audiosift.server")

# A declared duration this far over the limit is refused before decoding; nearer the limit the
# exact decoded length decides (headers and packet timestamps can be off by a frame or two).
PROBE_SLACK_SECONDS = 1.0
# Multipart requests carry one file plus a few text fields (labels, templates).
MAX_FORM_FIELDS = 2 * MAX_TEMPLATES + 2 * MAX_ZERO_SHOT_LABELS
MAX_NAME_CHARS = 100  # of an uploaded file's name, as error messages quote it

NO_AUDIO = ("no audio in the request: send the clip as a multipart field named 'file' "
            "(curl -F file=@clip.wav) or as the raw request body (curl --data-binary @clip.wav "
            "-H 'Content-Type: audio/wav')")


@dataclass(frozen=True)
class Upload:
    data: bytes
    name: str  # how error messages call it: the uploaded file's name, or "request body"
    form: object | None  # the multipart form (labels, templates), if the request was one


async def read_request_audio(request) -> Upload:
    """The audio of a request: a multipart ``file`` field, or the raw body."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(422, NO_AUDIO + f"; the form had fields {sorted(form.keys())}")
        upload_name = PurePath(upload.filename or "").name[:MAX_NAME_CHARS] or "uploaded file"
        return _checked(Upload(await upload.read(), upload_name, form))
    return _checked(Upload(await request.body(), "request body", None))


def _checked(upload: Upload) -> Upload:
    if not upload.data:
        raise ApiError(422, NO_AUDIO)
    return upload


def prepare_audio(model, upload: Upload, max_seconds: float, whole: bool = False) -> tuple[np.ndarray, float]:
    """Decode for ``model`` (in a worker thread: decoding is CPU work), refusing over-long clips:
    ``(what the model takes, the clip's duration in seconds)``; with ``whole``, the whole decoded clip
    at the model's rate (a detector scans all of it, where a fixed-window model keeps its window).

    The probe refuses a clip whose header or timestamps say it is long, before decoding; the decoder
    stops as soon as it has decoded more than ``max_seconds``, whatever the container claimed. Any
    failure to decode is the upload's fault (415), never a 500.
    """
    declared = probe_seconds(upload.data)
    if declared is not None and declared > max_seconds + PROBE_SLACK_SECONDS:
        raise AudioTooLongError(_too_long(f"{declared:.1f} s", max_seconds))
    try:
        return _decode(model, upload, max_seconds, declared, whole)
    except AudioDecodeError as error:
        raise UploadDecodeError(_unreadable(upload.name), str(error)) from error
    except AudiosiftError:
        raise  # too long, empty, NaN or too short for the model: its message says so (413, 422)
    except Exception as error:  # noqa: BLE001 - a decoder crashing on a hostile file is still a bad upload
        logger.warning("decoding %s failed with %s: %s", upload.name, type(error).__name__, error)
        raise UploadDecodeError(_unreadable(upload.name), f"{type(error).__name__}: {error}") from error


def _decode(model, upload: Upload, max_seconds: float, declared: float | None,
            whole: bool = False) -> tuple[np.ndarray, float]:
    from audiosift.audio.decode import load_audio

    try:  # as dicts, the decoder's messages name the upload ("notes.wav: could not decode audio ...")
        clip = load_audio({"bytes": upload.data, "path": upload.name}, model.sampling_rate, max_seconds=max_seconds)
    except AudioTooLongError as error:  # the server's limit, in the server's words; the decoder's in "detail"
        claimed = f"{declared:.1f} s" if declared is not None and declared > max_seconds else None
        too_long = AudioTooLongError(_too_long(claimed or f"more than {max_seconds:g} s", max_seconds))
        too_long.detail = str(error)
        raise too_long from error
    seconds = len(clip) / model.sampling_rate  # the model may keep less (a fixed-window model its window)
    if whole:
        return clip, seconds
    return model.prepare({"array": clip, "sampling_rate": model.sampling_rate, "path": upload.name}), seconds


def _too_long(length: str, max_seconds: float) -> str:
    return (f"the audio is {length} long; this server accepts clips of at most {max_seconds:g} s: "
            f"trim it, or classify long recordings with the `audiosift classify` command")


def _unreadable(name: str) -> str:
    return (f"{name}: could not decode audio: it is not an audio file, is cut short, or uses a codec this "
            f"server cannot decode (wav, flac, ogg, mp3, webm/opus and m4a work)")


def text_values(form, query_values: list[str], name: str) -> list[str]:
    """A field's values from the multipart form and the query string together."""
    values = list(query_values)
    if form is not None:
        values += [value for value in form.getlist(name) if isinstance(value, str)]
    return values


def parse_labels(values: list[str]) -> tuple[str, ...]:
    """Labels from repeated fields, each a JSON list or comma/newline-separated; order kept, deduplicated."""
    labels: list[str] = []
    for value in values:
        for label in _split(value):
            if label not in labels:
                labels.append(label)
    if not labels:
        raise ApiError(422, "labels are required for zero-shot: e.g. labels=dog,vacuum cleaner,rain "
                            "(comma-separated, repeated fields, or a JSON list)")
    if len(labels) > MAX_ZERO_SHOT_LABELS:
        raise ApiError(422, f"{len(labels)} labels sent; at most {MAX_ZERO_SHOT_LABELS} per request")
    long = [label for label in labels if len(label) > MAX_LABEL_CHARS]
    if long:
        raise ApiError(422, f"label {long[0][:40]!r}... is longer than {MAX_LABEL_CHARS} characters")
    return tuple(labels)


def parse_templates(values: list[str]) -> tuple[str, ...] | None:
    """Prompt templates ('This is a sound of {}.'); None means the model's default."""
    templates = [value.strip() for value in values if value.strip()]
    if not templates:
        return None
    if len(templates) > MAX_TEMPLATES:
        raise ApiError(422, f"{len(templates)} templates sent; at most {MAX_TEMPLATES} per request")
    from audiosift.inference.zero_shot import resolve_templates

    try:  # one template may also be a named set ("default", "ensemble")
        return tuple(resolve_templates(templates[0] if len(templates) == 1 else templates))
    except ValueError as error:
        raise ApiError(422, f"templates: {error}") from error


def _split(value: str) -> list[str]:
    text = value.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as error:
            raise ApiError(422, f"labels look like a JSON list but do not parse: {error}") from error
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise ApiError(422, "labels as JSON must be a list of strings, e.g. [\"dog\", \"rain\"]")
        return [item.strip() for item in items if item.strip()]
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
