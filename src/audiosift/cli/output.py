"""Writing prediction records: table, json, jsonl or csv, to stdout or a file.

A record is ``{"path": ..., "predictions": [{"label", "score"}, ...]}`` or
``{"path": ..., "error": "<message>"}``; other keys (``start``/``end`` for windows) pass through.
Records are written as they arrive (except ``json``, one array at the end), so a long job's output
is usable while it runs. Whole-file outputs (``json``, a recording's label track or selection table,
and the files of :func:`atomic_path`) go to a temporary file beside the target that replaces it only
once complete: an interrupted run leaves the earlier file as it was, never a truncated one.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from audiosift.errors import OutputError, UsageError

FORMATS = ("table", "json", "jsonl", "csv")
# overall: "true" on the rows of a speech-only answer over the whole recording (its segments have times)
CSV_FIELDS = ["path", "start", "end", "rank", "label", "score", "error", "overall"]
# Written atomically: a json array, or a label track / selection table of one recording, is only whole at the end.
WHOLE_FILE_FORMATS = ("json", "audacity", "raven")


@contextmanager
def open_output(path: str | None, fmt: str = "jsonl") -> Iterator[IO[str]]:
    """stdout for None or ``-``; else the file, written in place line by line (streamed formats) or
    atomically (:data:`WHOLE_FILE_FORMATS`)."""
    if path is None or path == "-":
        yield sys.stdout
        return
    if fmt in WHOLE_FILE_FORMATS:
        with atomic_path(path) as temporary, _open_text(temporary) as handle:
            yield handle
        return
    with _open_text(path) as handle:
        yield handle


def _open_text(path) -> IO[str]:
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as error:
        raise OutputError(f"cannot write --output {path}: {error.strerror or error}") from error


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write; it replaces ``path`` when the block ends without
    error, and is removed otherwise (Ctrl-C included). The new file gets the mode a plain ``open``
    would give it (the umask's, or the replaced file's own), not mkstemp's 0600."""
    target = Path(os.path.realpath(path))  # through a symlink: replace the file, keep the link
    try:
        descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from error
    os.close(descriptor)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, _mode_for(target))
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _mode_for(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)  # the only way to read it; restored at once
        os.umask(umask)
        return 0o666 & ~umask


class RecordWriter:
    def __init__(self, stream: IO[str], fmt: str):
        if fmt not in FORMATS:
            raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        self.stream, self.format = stream, fmt
        self._json_records: list[dict] = []
        self._csv = csv.DictWriter(stream, CSV_FIELDS, extrasaction="ignore") if fmt == "csv" else None
        if self._csv:
            self._csv.writeheader()

    def write(self, record: dict) -> None:
        if self.format == "jsonl":
            self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        elif self.format == "json":
            self._json_records.append(record)
        elif self.format == "csv":
            self._write_csv(record)
        else:
            self.stream.write(format_table_record(record))
        self.stream.flush()

    def _write_csv(self, record: dict) -> None:
        base = {key: record.get(key) for key in ("path", "start", "end")}
        if record.get("overall"):
            base["overall"] = "true"
        if "error" in record:
            self._csv.writerow(dict(base, error=record["error"]))
            return
        for rank, prediction in enumerate(record["predictions"], start=1):
            self._csv.writerow(dict(base, rank=rank, label=prediction["label"], score=f"{prediction['score']:.6f}"))

    def close(self) -> None:
        if self.format == "json":
            json.dump(self._json_records, self.stream, ensure_ascii=False, indent=2)
            self.stream.write("\n")
            self.stream.flush()


def format_table_record(record: dict) -> str:
    head = str(record.get("path", ""))
    if "start" in record:
        head += f"  [{record['start']:.2f}-{record['end']:.2f} s]"
    if record.get("overall"):
        head += f"  [overall: {record['speech_seconds']:.1f} s of speech in {record['duration_seconds']:.1f} s]"
    if "error" in record:
        return f"{head}\n  ERROR: {record['error']}\n"
    lines = [head]
    for prediction in record["predictions"]:
        bar = "#" * int(round(prediction["score"] * 20))
        lines.append(f"  {prediction['score']:7.2%}  {bar:<20}  {prediction['label']}")
    return "\n".join(lines) + "\n"
