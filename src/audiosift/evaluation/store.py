"""``predictions.jsonl``: one record per example, appended as results arrive, safe to resume.

Why it survives Ctrl-C, ``kill -9`` and a crash mid-write:
- each record is one line written with a single ``write`` and flushed at once, so a killed process
  leaves at most one partial line at the end (the OS keeps what was flushed; ``fsync`` after every
  batch also covers a power cut, up to the last batch);
- on (re)start the file is read back; a partial last line or a corrupt line is dropped, and of
  several records of one id the *latest* is kept (a re-run example supersedes its stale record);
  if anything was dropped, the clean records are written to a temporary file, fsynced and renamed
  over the old one (atomic: a kill during this leaves the old or the new file, never half of one);
- each record carries a ``key`` (the clip's content fingerprint, its label and the model's digest,
  see :func:`audiosift.evaluation.runner.record_key`): an example is skipped only when its record's
  key still matches, so a changed, relabelled or moved clip runs again, and the ones that were in
  flight when the run died have no record and simply run again;
- at the end of a run :meth:`PredictionStore.compact` leaves one record per example of the run;
- a lock file stops two runs from appending to the same folder at once;
- ``run.json`` records what the run evaluates (model, dataset selection, templates): resuming with
  another selection into the same folder is refused instead of mixing two runs' predictions.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from audiosift.errors import AudiosiftError

PREDICTIONS_FILE = "predictions.jsonl"
RUN_FILE = "run.json"
LOCK_FILE = ".evaluate.lock"


class RunConflictError(AudiosiftError):
    """The output folder holds (or is running) another evaluation."""


class PredictionStore:
    """Append-only records keyed by ``"id"``; the latest record of an id wins."""

    def __init__(self, path: str | os.PathLike, fsync_every: int = 32):
        self.path = Path(path)
        self.fsync_every = max(1, fsync_every)
        self.records: dict[str, dict] = {}
        self.dropped_lines = 0  # partial or corrupt lines found on open
        self.dropped_duplicates = 0  # stale records of an id superseded by a later one
        self._handle = None
        self._unsynced = 0
        self._appended_over = 0  # records appended over an earlier one of the same id (stale lines)

    def open(self, keep: Callable[[dict], bool] = lambda record: True) -> PredictionStore:
        """Read what a previous run wrote (keeping records ``keep`` accepts), then open for appending."""
        text = self.path.read_bytes().decode("utf-8", errors="replace") if self.path.exists() else ""
        lines = text.split("\n")
        if lines[-1] == "":  # the file ends with a newline (or is empty): no partial last line
            lines.pop()
        for line in lines:
            record = _parse(line)
            if record is None:
                self.dropped_lines += 1
                continue
            if self.records.pop(record["id"], None) is not None:  # re-inserted: dict order = file order
                self.dropped_duplicates += 1
            self.records[record["id"]] = record
        for example_id in [i for i, record in self.records.items() if not keep(record)]:
            del self.records[example_id]
        if len(self.records) != len(lines) or (text and not text.endswith("\n")):
            self._rewrite([_line(record) for record in self.records.values()])
        self._handle = open(self.path, "a", encoding="utf-8")
        return self

    def _rewrite(self, lines: list[str]) -> None:
        reopen = self._handle is not None
        if reopen:
            self.close()
        _atomic_write_text(self.path, "".join(line + "\n" for line in lines))
        if reopen:
            self._handle = open(self.path, "a", encoding="utf-8")

    def compact(self, ids: Iterable[str]) -> None:
        """Keep one record (the latest) per id of ``ids``, in file order; stale ids are dropped.

        Called when a run is complete, so ``predictions.jsonl`` then holds exactly its examples.
        """
        wanted = set(ids)
        keep = [record for example_id, record in self.records.items() if example_id in wanted]
        if len(keep) != len(self.records) or self._appended_over:
            self.records = {record["id"]: record for record in keep}
            self._rewrite([_line(record) for record in keep])
            self._appended_over = 0

    def __contains__(self, example_id: str) -> bool:
        return example_id in self.records

    def append(self, record: dict) -> None:
        """Write ``record``; one for an id already recorded supersedes it (the old line is stale)."""
        self._handle.write(_line(record) + "\n")
        self._handle.flush()
        if self.records.pop(record["id"], None) is not None:
            self._appended_over += 1
        self.records[record["id"]] = record
        self._unsynced += 1
        if self._unsynced >= self.fsync_every:
            self.sync()

    def sync(self) -> None:
        if self._handle and self._unsynced:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._unsynced = 0

    def close(self) -> None:
        if self._handle:
            self.sync()
            self._handle.close()
            self._handle = None

    def __enter__(self) -> PredictionStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False)


def _parse(line: str) -> dict | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("id"), str) else None


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # some systems cannot open folders; the rename itself is still atomic
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


class OutputLock:
    """An exclusive lock on the output folder for the length of a run (advisory, POSIX ``flock``)."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK_FILE
        self._handle = None

    def __enter__(self) -> OutputLock:
        self._handle = open(self.path, "a")
        try:
            import fcntl
        except ImportError:  # Windows: no flock; running two evaluations into one folder is on the user
            return self
        try:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            self._handle.close()
            raise RunConflictError(f"{self.path.parent}: another evaluation is writing to this folder; "
                                   f"wait for it or choose another --output") from error
        return self

    def __exit__(self, *exc) -> None:
        if self._handle:
            self._handle.close()  # closing releases the lock


def check_run_identity(folder: Path, identity: dict, overwrite: bool) -> bool:
    """Write ``run.json`` for a new run; for one with predictions already, insist it is the same run.

    Returns True when earlier predictions are kept (resume). ``overwrite`` starts afresh. A run that
    stopped before writing any prediction has nothing to lose: its ``run.json`` is replaced.
    """
    run_file = folder / RUN_FILE
    predictions = folder / PREDICTIONS_FILE
    if overwrite:
        for stale in (predictions, run_file):
            stale.unlink(missing_ok=True)
    has_predictions = predictions.exists() and predictions.stat().st_size > 0
    if run_file.exists() and has_predictions:
        try:
            previous = json.loads(run_file.read_text(encoding="utf-8"))
        except ValueError:  # damaged: treat as another run (the user decides with --overwrite)
            previous = {}
        if previous != _jsonable(identity):
            changed = sorted(key for key in set(previous) | set(identity)
                             if previous.get(key) != _jsonable(identity).get(key))
            model_changed = {"model", "revision", "model_files", "model_labels"} & set(changed)
            cause = (" - the model (its name, revision, files or labels) is not the one its predictions were "
                     "made with, so they cannot be reused" if model_changed else "")
            raise RunConflictError(
                f"{folder} holds another evaluation (it differs in: {', '.join(changed)}){cause}; resume it with "
                f"the same arguments, choose another --output, or pass --overwrite to start afresh")
        return True
    if has_predictions and not run_file.exists():
        raise RunConflictError(f"{predictions} exists but {run_file.name} does not, so it cannot be told which "
                               f"run it belongs to; choose another --output or pass --overwrite")
    _atomic_write_text(run_file, json.dumps(_jsonable(identity), indent=2, sort_keys=True) + "\n")
    return False


def _jsonable(value):
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _atomic_write_text(path: Path, text: str) -> None:
    write_atomically(path, lambda handle: handle.write(text.encode("utf-8")))


def write_atomically(path: Path, write: Callable) -> None:
    """``write(binary handle)`` into a temporary file beside ``path``, fsync, rename over ``path``.

    A reader (or a kill) sees the old file or the new one, never half of one. ``mkstemp`` creates
    files ``0600``; the result gets the mode a plain ``open`` would give (``0666`` less the umask).
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            if hasattr(os, "fchmod"):  # POSIX
                os.fchmod(handle.fileno(), 0o666 & ~_umask())
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _umask() -> int:
    try:  # Linux states it without changing it (os.umask would, briefly, for every thread)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def records_for(store: PredictionStore, ids: Iterable[str]) -> list[dict]:
    """The records of ``ids`` in order (each once); ids without a record are skipped."""
    return [store.records[i] for i in dict.fromkeys(ids) if i in store.records]


write_text_atomically = _atomic_write_text
