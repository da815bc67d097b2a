"""``open_dataset``: a hub id, a class-folder tree, a manifest or table files -> labelled examples.

Every source yields :class:`Example` objects: a stable id (the row index of a table, or the file's
path relative to the dataset root), an audio reference that ``audiosift.audio.load_audio`` decodes
(a path, or ``{"path", "bytes"}`` as ``datasets`` gives it with ``Audio(decode=False)``), and the
label as a string (``ClassLabel`` ints are turned into their names). Nothing here decodes audio, so
opening a dataset is cheap and a bad clip only fails later, on its own.

Local sources are handled here; anything read through the ``datasets`` library (hub ids, parquet or
arrow files, folders saved with ``save_to_disk``) lives in :mod:`audiosift.datasets.tables`.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audiosift.audio.files import find_audio_files
from audiosift.datasets.filters import RowFilter, Where, describe, normalise_where
from audiosift.errors import DatasetError, UsageError

MANIFEST_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")
TABLE_SUFFIXES = (".parquet", ".arrow")
# Manifest columns tried, in order, for the audio path when --audio-column is not given.
MANIFEST_AUDIO_COLUMNS = ("path", "file", "filename", "audio", "audio_path")
DEFAULT_LABEL_COLUMN = "label"


@dataclass(frozen=True)
class Example:
    """One labelled clip of a dataset."""

    id: str  # stable across runs (resume relies on it): row index, or path relative to the root
    audio: Any  # a path, {"path", "bytes"} (datasets' Audio(decode=False)), or a TableRow: see audio_input()
    label: str | None  # the dataset's label name; None when the row has none
    index: int  # position in the source before any shuffling
    path: str | None = None  # the file (or, in a table, the audio's original file name) for reports

    def audio_input(self) -> Any:
        """The clip as ``audiosift.audio.load_audio`` (and so a classifier) reads it.

        ``audio`` itself may be a cheap :class:`~audiosift.datasets.references.TableRow` reference
        (a row of an Arrow file), read only here.
        """
        from audiosift.datasets.references import resolve

        return resolve(self.audio)


@dataclass(frozen=True)
class DatasetOptions:
    """How to open a dataset; checked here, once."""

    config: str | None = None  # hub config (subset), e.g. "en-AU" for PolyAI/minds14
    split: str | None = None  # None: the only split there is (an error if there are several)
    label_column: str | None = None  # None: "label", else the table's only ClassLabel column
    audio_column: str | None = None  # None: the table's Audio column / the manifest's path column
    streaming: bool = False  # hub/table sources: read as a stream instead of downloading the split
    # keep rows whose columns hold these values, before shuffling and limit: ("fold=1",), {"fold": [1, 2]};
    # normalised to ((column, (value, ...)), ...) (see audiosift.datasets.filters)
    where: Where = ()
    limit: int | None = None  # keep the first N examples (after --where and shuffling)
    shuffle: bool = False
    seed: int = 0
    shuffle_buffer: int = 1000  # streaming shuffle: examples held in the buffer datasets shuffles
    revision: str | None = None  # hub revision (branch, tag or commit)
    cache_dir: str | None = None  # datasets' cache folder (default: HF_DATASETS_CACHE)

    def __post_init__(self):
        object.__setattr__(self, "where", normalise_where(self.where))  # frozen: set once, here
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise UsageError(f"limit must be a positive integer or None, got {self.limit!r}")
        if not isinstance(self.seed, int):
            raise UsageError(f"seed must be an integer, got {self.seed!r}")
        if not isinstance(self.shuffle_buffer, int) or self.shuffle_buffer < 1:
            raise UsageError(f"shuffle_buffer must be a positive integer, got {self.shuffle_buffer!r}")
        for name in ("config", "split", "label_column", "audio_column", "revision"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise UsageError(f"{name} must be a non-empty string or None, got {value!r}")

    def selection(self) -> dict:
        """What decides which examples come out, in which order (a resumed run must match it)."""
        selection = {key: value for key, value in asdict(self).items() if key != "cache_dir"}
        if not self.where:  # absent when unused, so runs started before filters existed still resume
            del selection["where"]
        return selection

    def row_filter(self, source: str, columns: Sequence[str] | None = None,
                   class_names: dict[str, Sequence[str]] | None = None) -> RowFilter | None:
        """The ``where`` filter for ``source`` (None without one); unknown ``columns`` are refused here."""
        return RowFilter(self.where, source, columns, class_names) if self.where else None


@dataclass
class OpenedDataset:
    """An opened dataset: its examples (iterated once, lazily) and what is known up front."""

    name: str
    examples: Iterable[Example]
    label_names: list[str] | None  # every label of the split, if known before iterating
    size: int | None  # how many examples `examples` yields, if known
    info: dict = field(default_factory=dict)  # what was opened: kind, source, split, columns...

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)


def open_dataset(source: str | os.PathLike, options: DatasetOptions | None = None, **option_values) -> OpenedDataset:
    """Open ``source`` for evaluation.

    ``source`` is one of:
    - a hub id (``"PolyAI/minds14"``, ``"google/fleurs"``) with ``config``/``split``;
    - a folder with one sub-folder of audio files per class (``dogs/*.wav``, ``cats/*.wav``);
    - a CSV/TSV/JSONL manifest with a path and a label column (relative paths are resolved
      against the manifest's folder);
    - parquet or arrow files (or a folder of them, or one saved with ``save_to_disk``) with an
      audio column.

    Options are a :class:`DatasetOptions` or its fields as keywords; ``where=["fold=1"]`` (or
    ``{"fold": 1}``) keeps the rows whose columns hold those values, before shuffling and ``limit``
    (see :mod:`audiosift.datasets.filters`). Row ids stay the source's row indices or paths.
    """
    if options is not None and option_values:
        raise TypeError("pass either options=DatasetOptions(...) or option keywords, not both")
    options = options or DatasetOptions(**option_values)
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.exists():
        opened = _open_local(path, options)
    elif _looks_like_path(text) or _under_a_local_folder(text):
        missing = _missing_part(path)
        kind = "file" if missing == path and path.suffix else "folder"
        raise DatasetError(f"{text}: no such file or folder: the {kind} {missing} does not exist "
                           f"(expected a dataset folder, manifest, parquet file, or a hub id such as "
                           f"'PolyAI/minds14')")
    else:
        from audiosift.datasets.tables import open_hub_dataset

        opened = open_hub_dataset(text, options)
    if options.where:
        opened.info["where"] = describe(options.where)
    return opened


def _looks_like_path(text: str) -> bool:
    if text.startswith(("/", "./", "../", "~")) or "\\" in text:
        return True
    return text.lower().endswith(MANIFEST_SUFFIXES + TABLE_SUFFIXES) or text.count("/") > 1


def _under_a_local_folder(text: str) -> bool:
    """``data/esc-5`` where ``data/`` is a folder here: a mistyped path, not a hub id."""
    first = text.split("/", 1)[0]
    return "/" in text and bool(first) and Path(first).expanduser().is_dir()


def _missing_part(path: Path) -> Path:
    """The first part of ``path`` that does not exist (what the user mistyped)."""
    for part in [*reversed(path.parents), path]:
        if not part.exists():
            return part
    return path


def _open_local(path: Path, options: DatasetOptions) -> OpenedDataset:
    from audiosift.datasets import tables

    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in MANIFEST_SUFFIXES:
            return open_manifest(path, options)
        if suffix in TABLE_SUFFIXES:
            return tables.open_table_files([path], options, name=str(path))
        raise DatasetError(f"{path}: expected a manifest ({', '.join(MANIFEST_SUFFIXES)}), table files "
                           f"({', '.join(TABLE_SUFFIXES)}) or a folder, got a {suffix or 'suffix-less'} file")
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        return tables.open_saved_dataset(path, options)
    if any(p.suffix.lower() in TABLE_SUFFIXES for p in path.rglob("*") if p.is_file()):
        return tables.open_table_folder(path, options)
    return open_class_folders(path, options)


def open_class_folders(root: Path, options: DatasetOptions) -> OpenedDataset:
    """One sub-folder per class; every audio file under it (recursively) is an example of that class.

    With ``split``, ``root/<split>/`` is used when it exists (``data/test/dog/1.wav``).
    """
    if options.label_column or options.audio_column:
        raise DatasetError(f"{root}: a folder of class sub-folders takes labels from the sub-folder names; "
                           f"--label-column/--audio-column apply to manifests and tables only")
    if options.split:
        if not (root / options.split).is_dir():
            raise DatasetError(f"{root}: no sub-folder {options.split!r} for split {options.split!r}; "
                               f"a class-folder dataset is used whole unless it has one folder per split")
        root = root / options.split
    others = [column for column, _ in options.where if column != DEFAULT_LABEL_COLUMN]
    if others:
        raise DatasetError(f"{root}: a folder of class sub-folders has one column to filter on, "
                           f"{DEFAULT_LABEL_COLUMN!r} (the sub-folder names, e.g. --where label=dog,cat), not "
                           f"{', '.join(map(repr, others))}; to filter on other columns use a manifest or table")
    entries: list[tuple[str, Path, str]] = []
    classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    for class_dir in classes:
        files = find_audio_files([class_dir])
        entries.extend((p.relative_to(root).as_posix(), p, class_dir.name) for p in files)
    if not entries:
        raise DatasetError(f"{root}: found no audio files in class sub-folders; expected one sub-folder per "
                           f"class holding audio files (e.g. {root}/dog/1.wav), or a manifest/parquet file")
    label_names = sorted({label for _, _, label in entries})
    keep = _kept(options.row_filter(str(root), [DEFAULT_LABEL_COLUMN]),
                 [{DEFAULT_LABEL_COLUMN: label} for _, _, label in entries])
    info = {"kind": "class folders", "root": str(root)}
    return _opened_from_entries(str(root), entries, label_names, options, info, keep)


def open_manifest(path: Path, options: DatasetOptions) -> OpenedDataset:
    """A CSV/TSV (header row) or JSONL (one object a line) manifest of ``path,label`` rows."""
    if options.split:
        raise DatasetError(f"{path}: a manifest is one split; drop --split (or keep one manifest per split)")
    rows = _read_manifest_rows(path)
    if not rows:
        raise DatasetError(f"{path}: the manifest has no rows; expected a header and one row per clip")
    columns = list(dict.fromkeys(column for row in rows for column in row))  # JSONL rows may differ
    audio_column = options.audio_column or next((c for c in MANIFEST_AUDIO_COLUMNS if c in columns), None)
    label_column = options.label_column or DEFAULT_LABEL_COLUMN
    for role, column in (("audio path", audio_column), ("label", label_column)):
        if column is None or column not in columns:
            flag = "--audio-column" if role == "audio path" else "--label-column"
            raise DatasetError(f"{path}: no {role} column{f' {column!r}' if column else ''}; the manifest's "
                               f"columns are {', '.join(map(repr, columns))} (choose one with {flag})")
    entries, seen = [], {}
    for line, row in enumerate(rows, start=2 if path.suffix.lower() in (".csv", ".tsv") else 1):
        written = str(row.get(audio_column) or "").strip()
        if not written:
            raise DatasetError(f"{path}: row {line} has an empty {audio_column!r}")
        if written in seen:
            raise DatasetError(f"{path}: {written!r} is listed twice (rows {seen[written]} and {line}); "
                               f"each clip must appear once")
        seen[written] = line
        clip = Path(written).expanduser()
        clip = clip if clip.is_absolute() else path.parent / clip
        entries.append((written, clip, _label_text(row.get(label_column))))
    label_names = sorted({label for _, _, label in entries if label is not None})
    info = {"kind": "manifest", "manifest": str(path), "audio_column": audio_column, "label_column": label_column}
    keep = _kept(options.row_filter(str(path), columns), rows)
    return _opened_from_entries(str(path), entries, label_names, options, info, keep)


def _read_manifest_rows(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8-sig")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return list(csv.DictReader(text.splitlines(), delimiter="\t" if suffix == ".tsv" else ","))
    if suffix == ".json" and text.lstrip().startswith("["):
        rows = json.loads(text)
    else:
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise DatasetError(f"{path}: line {number} is not JSON ({error}); "
                                       f"expected one object a line") from error
    if not all(isinstance(row, dict) for row in rows):
        raise DatasetError(f"{path}: expected JSON objects with a path and a label, e.g. "
                           f'{{"path": "clips/1.wav", "label": "dog"}}')
    return rows


def _label_text(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return str(value).strip() if isinstance(value, str) else str(value)


def _kept(row_filter: RowFilter | None, rows: list[dict]) -> list[int] | None:
    """Positions of the rows the filter keeps (None: no filter); matching nothing is an error."""
    if row_filter is None:
        return None
    return row_filter.positions({column: [row.get(column) for row in rows] for column in row_filter.columns},
                                len(rows))


def _opened_from_entries(name: str, entries: list[tuple[str, Path, str | None]], label_names: list[str],
                         options: DatasetOptions, info: dict, keep: Sequence[int] | None = None) -> OpenedDataset:
    order = selected_positions(len(entries), options, keep)
    examples = [Example(id=entries[i][0], audio=entries[i][1], label=entries[i][2], index=int(i),
                        path=str(entries[i][1])) for i in order]
    info = dict(info, size_before_selection=len(entries))
    if keep is not None:
        info["matching_where"] = len(keep)
    return OpenedDataset(name, examples, label_names, len(examples), info)


def selected_positions(count: int, options: DatasetOptions, keep: Sequence[int] | None = None) -> Sequence[int]:
    """Positions of ``count`` rows to use, in order: those in ``keep`` (the ``where`` filter's; None: all),
    seeded-shuffled when asked, then the first ``limit``."""
    candidates = np.arange(count) if keep is None else np.asarray(keep, dtype=np.int64)
    order = np.random.default_rng(options.seed).permutation(len(candidates)) if options.shuffle else None
    chosen = candidates if order is None else candidates[order]
    return [int(i) for i in chosen[: options.limit]]
