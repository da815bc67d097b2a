"""Audio references that cost nothing to pass around, and the content fingerprint resume keys on.

An :class:`Example`'s ``audio`` is a path, a ``{"path", "bytes"}`` dict (bytes already in memory,
e.g. a streamed row), or a :class:`TableRow`: a row of an Arrow file on disk (a ``datasets`` cache
file or a ``save_to_disk`` shard), read only by whoever classifies it. So the evaluation driver,
and the Ray driver in particular, never reads the audio of a table; workers call :func:`resolve`.

:func:`fingerprint` says what the clip *is* (not just where it is listed), so a resumed evaluation
re-runs an example whose file was replaced, touched or moved:
- a path: the resolved path, its size and its modification time (no read);
- in-memory bytes: a BLAKE2 hash of them;
- a table row: the Arrow file's path, size and modification time, and the row (a rewritten file
  re-runs all its rows: datasets writes a new cache file whenever its source changes).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiosift.errors import DatasetError

_OPEN_TABLES: dict[str, Any] = {}  # Arrow files opened (memory-mapped) by this process, by file name
_MAX_OPEN_TABLES = 64


@dataclass(frozen=True)
class TableRow:
    """Row ``row`` of Arrow file ``file``; its ``column`` holds ``{"bytes", "path"}`` (an Audio column)."""

    file: str
    row: int
    column: str
    path: str | None = None  # the audio's original file name, for reports


def resolve(audio: Any) -> Any:
    """What ``audiosift.audio.load_audio`` reads: a table row becomes its ``{"path", "bytes"}`` dict."""
    if not isinstance(audio, TableRow):
        return audio
    import pyarrow as pa

    try:
        value = _open_table(audio.file).column(audio.column).slice(audio.row, 1).to_pylist()[0] or {}
    except (OSError, KeyError, IndexError, pa.ArrowException) as error:
        raise DatasetError(f"{audio.file}: cannot read row {audio.row} ({audio.column!r}) of this table: "
                           f"{type(error).__name__}: {error}; the dataset's files changed or went away after "
                           f"it was opened (open it again)") from error
    return {"path": value.get("path") or audio.path, "bytes": value.get("bytes")}


def _open_table(file: str):
    table = _OPEN_TABLES.get(file)
    if table is None:
        import pyarrow as pa

        if len(_OPEN_TABLES) >= _MAX_OPEN_TABLES:
            _OPEN_TABLES.pop(next(iter(_OPEN_TABLES)))
        source = pa.memory_map(file)  # zero-copy: only the rows asked for are paged in
        try:
            table = pa.ipc.open_stream(source).read_all()
        except pa.ArrowInvalid:  # the file (random-access) format rather than the stream one
            table = pa.ipc.open_file(source).read_all()
        _OPEN_TABLES[file] = table
    return table


def fingerprint(audio: Any) -> str:
    """A short text that changes whenever the clip's content may have changed (see the module doc)."""
    if isinstance(audio, TableRow):
        return f"table:{_file_stamp(audio.file)}#{audio.column}[{audio.row}]"
    if isinstance(audio, dict):
        data = audio.get("bytes")
        if data:
            return "bytes:" + hashlib.blake2b(bytes(data), digest_size=16).hexdigest()
        audio = audio.get("path")
    if isinstance(audio, (str, os.PathLike)):
        return f"file:{_file_stamp(audio)}"
    if audio is None:
        return "none"
    # anything else (an array handed in directly): hash what it holds
    return "data:" + hashlib.blake2b(repr(audio).encode(), digest_size=16).hexdigest()


def _file_stamp(path: str | os.PathLike) -> str:
    resolved = Path(path).expanduser().absolute()
    try:
        stat = resolved.stat()
    except OSError:  # missing now: the key still changes once it appears
        return f"{resolved}:missing"
    return f"{resolved}:{stat.st_size}:{stat.st_mtime_ns}"


def table_row_locator(dataset: Any, column: str):
    """``global row -> (Arrow file, row in it)`` for a map-style ``datasets`` Dataset, or None.

    None when the rows are not plainly the concatenation of its cache files (in memory, or an
    indices mapping from ``select``/``shuffle``): then the audio is read from the dataset itself.
    """
    files = [entry["filename"] for entry in getattr(dataset, "cache_files", None) or []]
    if not files or getattr(dataset, "_indices", None) is not None:
        return None
    import pyarrow as pa

    try:
        counts = [_open_table(file).num_rows for file in files]
        if any(column not in _open_table(file).column_names for file in files):
            return None
    except (OSError, pa.ArrowException):
        return None
    if sum(counts) != len(dataset):
        return None
    starts = [sum(counts[:i]) for i in range(len(counts))]

    def locate(row: int) -> tuple[str, int]:
        for file, start, count in zip(files, starts, counts):
            if row < start + count:
                return file, row - start
        raise IndexError(row)

    return locate
