"""Datasets read through the ``datasets`` library: hub ids, parquet/arrow files, ``save_to_disk`` folders.

Audio columns are cast to ``Audio(decode=False)``: ``datasets`` 5 decodes audio only through
torchcodec, which often cannot load beside a CPU torch. The ``{"path", "bytes"}`` dicts it gives
instead are decoded by ``audiosift.audio.load_audio`` when a clip is classified.

Datasets that still rely on a loading script are refused by ``datasets`` >= 4 (and by 3.x without
``trust_remote_code``, which audiosift never passes). For those the hub's automatic parquet export,
on the ``refs/convert/parquet`` revision, is tried next; it is laid out as ``<config>/<split>/*.parquet``
(``default`` when the dataset has no configs).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from audiosift.datasets.sources import (
    DEFAULT_LABEL_COLUMN,
    TABLE_SUFFIXES,
    DatasetOptions,
    Example,
    OpenedDataset,
    selected_positions,
)
from audiosift.datasets.filters import RowFilter
from audiosift.datasets.references import TableRow, table_row_locator
from audiosift.errors import DatasetError

PARQUET_REVISION = "refs/convert/parquet"
# Messages by which datasets says "this dataset needs its loading script" (5.x/4.x, then 3.x, then 2.x).
LOADING_SCRIPT_SIGNS = ("scripts are no longer supported", "trust_remote_code", "loading script")
HUB_PROBE_TIMEOUT_S = 10.0  # one quick question to the hub before datasets' slow retries
INDEX_COLUMN = "__audiosift_index__"  # added to streams so shuffled examples keep their row index

LOCAL_FILES_HINT = (
    "Point audiosift at local files instead: --dataset DIR with one sub-folder of audio files per class, "
    "a CSV/JSONL manifest with path,label columns, or parquet/arrow files with an audio column "
    "(e.g. downloaded on a machine with access and copied here; see docs/evaluation.md)"
)


def open_hub_dataset(source: str, options: DatasetOptions) -> OpenedDataset:
    check_hub_dataset(source, options)
    dataset, revision = load_with_parquet_fallback(source, options)
    info = {"kind": "hub", "source": source, "config": options.config, "split": options.split,
            "revision": revision}
    return from_hf_dataset(dataset, source, options, info)


def check_hub_dataset(source: str, options: DatasetOptions) -> None:
    """Fail in a second, not after ``datasets``' ~25 s of retries, when ``source`` is neither cached
    nor on a reachable hub: most often a mistyped local folder (``esc50``, ``data/esc-50``)."""
    import os

    if _in_local_cache(source, options.cache_dir):
        return  # datasets reads it from the cache (or refreshes it when the hub answers)
    not_local = (f"{source!r} is not a local folder or file (none exists at {os.path.abspath(source)}) and not in "
                 f"the local Hugging Face cache")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        raise DatasetError(f"{not_local}, and HF_HUB_OFFLINE is set. Check the path. {LOCAL_FILES_HINT}")
    from huggingface_hub import dataset_info
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        dataset_info(source, revision=options.revision, timeout=HUB_PROBE_TIMEOUT_S)
    except GatedRepoError:
        return  # it exists; load_dataset says how to get access
    except (RepositoryNotFoundError, RevisionNotFoundError) as error:
        raise DatasetError(f"{not_local}, and the hub has no dataset {source!r}"
                           f"{'' if options.revision is None else f' at revision {options.revision!r}'}: check "
                           f"the path or the hub id") from error
    except Exception as error:  # noqa: BLE001 - DNS, TLS, proxy, timeout: all mean "cannot reach"
        raise DatasetError(f"{not_local}, and the hub cannot be reached ({type(error).__name__}: {error}). "
                           f"Check the path; for a hub dataset, pre-download it where the hub is reachable. "
                           f"{LOCAL_FILES_HINT}") from error


def _in_local_cache(source: str, cache_dir: str | None) -> bool:
    """A copy of hub dataset ``source`` in the hub's file cache or in datasets' own cache."""
    from huggingface_hub import constants

    folders = [Path(cache_dir or constants.HF_HUB_CACHE) / f"datasets--{source.replace('/', '--')}"]
    try:
        import datasets.config

        folders.append(Path(cache_dir or datasets.config.HF_DATASETS_CACHE) / source.replace("/", "___"))
    except ImportError:  # no datasets library: load_dataset will say so
        pass
    return any(folder.is_dir() for folder in folders)


def needs_loading_script(error: BaseException) -> bool:
    text = str(error).lower()
    return any(sign in text for sign in LOADING_SCRIPT_SIGNS)


def load_with_parquet_fallback(source: str, options: DatasetOptions):
    """``(dataset, revision used)``: ``load_dataset`` as asked, else the parquet export for script datasets."""
    import datasets

    kwargs = dict(split=options.split, streaming=options.streaming, cache_dir=options.cache_dir)
    try:
        return _load_dataset(source, options.config, revision=options.revision, **kwargs), options.revision
    except Exception as error:  # noqa: BLE001 - datasets raises many kinds; each becomes one clear error
        if not needs_loading_script(error):
            raise DatasetError(
                f"could not load dataset {source!r} (config {options.config!r}, split {options.split!r}): "
                f"{type(error).__name__}: {error}. If the hub cannot be reached from here, pre-download the "
                f"dataset or set HF_HUB_OFFLINE=1 with a filled HF_HOME cache. {LOCAL_FILES_HINT}") from error
        script_error = error
    try:
        dataset = _load_dataset(source, data_dir=options.config or "default", revision=PARQUET_REVISION, **kwargs)
        return dataset, PARQUET_REVISION
    except Exception as error:  # noqa: BLE001
        raise DatasetError(
            f"dataset {source!r} needs a loading script, which datasets {datasets.__version__} does not run "
            f"({script_error}); its parquet export (revision {PARQUET_REVISION!r}, folder "
            f"{options.config or 'default'!r}) could not be loaded either ({type(error).__name__}: {error}). "
            f"{LOCAL_FILES_HINT}") from error


def open_table_files(files: list[Path], options: DatasetOptions, name: str) -> OpenedDataset:
    """Parquet or arrow files (one kind) read as one split."""
    if options.split:
        raise DatasetError(f"{name}: table files given directly are one split; drop --split, or pass the "
                           f"folder holding <split>-*.parquet files")
    kinds = {path.suffix.lower().lstrip(".") for path in files}
    if len(kinds) != 1:
        raise DatasetError(f"{name}: mix of {sorted(kinds)} files; give parquet or arrow files, not both")
    try:
        dataset = _load_dataset(kinds.pop(), data_files=[str(p) for p in files], split="train",
                                streaming=options.streaming, cache_dir=options.cache_dir)
    except Exception as error:  # noqa: BLE001
        raise DatasetError(f"{name}: could not read the table files: {type(error).__name__}: {error}") from error
    info = {"kind": "table files", "files": [str(p) for p in files]}
    return from_hf_dataset(dataset, name, options, info, base_dir=files[0].parent)


def open_table_folder(folder: Path, options: DatasetOptions) -> OpenedDataset:
    """A folder of parquet/arrow files; splits come from file names (``test-0000.parquet``, ``test/``)."""
    try:
        dataset = _load_dataset(str(folder), split=options.split, streaming=options.streaming,
                                cache_dir=options.cache_dir)
    except Exception as error:  # noqa: BLE001
        raise DatasetError(f"{folder}: could not read the table files in this folder: {type(error).__name__}: "
                           f"{error}") from error
    info = {"kind": "table folder", "folder": str(folder), "split": options.split}
    return from_hf_dataset(dataset, str(folder), options, info, base_dir=folder)


def open_saved_dataset(folder: Path, options: DatasetOptions) -> OpenedDataset:
    """A folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``."""
    import datasets

    try:
        with quiet_datasets():
            dataset = datasets.load_from_disk(str(folder))
    except Exception as error:  # noqa: BLE001
        raise DatasetError(f"{folder}: could not load this save_to_disk folder: "
                           f"{type(error).__name__}: {error}") from error
    if isinstance(dataset, datasets.DatasetDict) and options.split:
        if options.split not in dataset:
            raise DatasetError(f"{folder}: no split {options.split!r}; it has {', '.join(dataset)}")
        dataset = dataset[options.split]
    if options.streaming:
        dataset = dataset.to_iterable_dataset() if not isinstance(dataset, datasets.DatasetDict) else dataset
    info = {"kind": "saved dataset", "folder": str(folder), "split": options.split}
    return from_hf_dataset(dataset, str(folder), options, info, base_dir=folder)


def _load_dataset(*args, **kwargs):
    import datasets

    with quiet_datasets():
        return datasets.load_dataset(*args, **kwargs)  # looked up per call (tests replace it)


@contextmanager
def quiet_datasets() -> Iterator[None]:
    """Keep datasets' per-file progress bars off stderr while it loads (and restore the setting after)."""
    import datasets

    were_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not were_disabled:
            datasets.enable_progress_bars()


def from_hf_dataset(dataset: Any, name: str, options: DatasetOptions, info: dict,
                    base_dir: Path | None = None) -> OpenedDataset:
    """Examples of a ``datasets`` Dataset or IterableDataset (a one-split dict is unwrapped)."""
    dataset = _single_split(dataset, name, options)
    features = dataset.features or {}
    columns = list(dataset.column_names or features)
    audio_column = _audio_column(features, columns, options, name)
    label_column = _label_column(features, columns, options, name)
    row_filter = _row_filter(features, columns, audio_column, options, name)
    dataset = _keep_columns(dataset, [audio_column, label_column, *(row_filter.columns if row_filter else [])])
    if _is_audio_feature(features.get(audio_column)):
        from datasets import Audio

        dataset = dataset.cast_column(audio_column, Audio(decode=False))
    names = getattr(features.get(label_column), "names", None)  # a ClassLabel's names
    decode_label = (lambda value: None if value is None or value < 0 else names[value]) if names else \
        (lambda value: None if value is None else str(value))
    info = dict(info, audio_column=audio_column, label_column=label_column, streaming=options.streaming)
    reader = _RowReader(audio_column, label_column, decode_label, base_dir)
    if options.streaming:
        return OpenedDataset(name, _stream_examples(dataset, options, reader, row_filter), names and list(names),
                             options.limit, info)
    keep = None
    if row_filter:  # only the filtered columns are read for this (never the audio)
        keep = row_filter.positions(dataset.select_columns(row_filter.columns)[:], len(dataset))
        info["matching_where"] = len(keep)
    positions = selected_positions(len(dataset), options, keep)
    # the split's whole label set, as for ClassLabel names: a filter or limit does not change the task
    label_names = list(names) if names else sorted({str(v) for v in dataset.unique(label_column) if v is not None})
    info["size_before_selection"] = len(dataset)
    locate = table_row_locator(dataset, audio_column) if _is_audio_feature(features.get(audio_column)) else None
    if locate is not None:  # rows referenced in their Arrow files: the audio is read where it is classified
        examples = _ReferencedExamples(dataset, positions, reader, locate)
    else:
        rows = dataset.select(positions) if positions != list(range(len(dataset))) else dataset
        examples = _IndexedExamples(rows, positions, reader)
    return OpenedDataset(name, examples, label_names, len(positions), info)


class _RowReader:
    """Turns one table row into an :class:`Example`."""

    def __init__(self, audio_column: str, label_column: str, decode_label, base_dir: Path | None):
        self.audio_column, self.label_column = audio_column, label_column
        self.decode_label, self.base_dir = decode_label, base_dir

    def example(self, row: dict, index: int) -> Example:
        audio = row[self.audio_column]
        if isinstance(audio, str):  # a column of file paths, relative to the table's folder
            audio = self._resolve(audio)
            path = str(audio)
        elif isinstance(audio, TableRow):
            path = audio.path
        elif isinstance(audio, dict):
            path = audio.get("path")
            if not audio.get("bytes") and path:
                audio = dict(audio, path=str(self._resolve(path)))
        else:
            path = None
        return Example(id=str(index), audio=audio, label=self.decode_label(row[self.label_column]), index=index,
                       path=path)

    def _resolve(self, text: str) -> Path:
        path = Path(text).expanduser()
        return path if path.is_absolute() or self.base_dir is None else self.base_dir / path


class _IndexedExamples:
    """Re-iterable examples of a map-style dataset (rows already selected, positions their row indices)."""

    def __init__(self, rows, positions: list[int], reader: _RowReader):
        self.rows, self.positions, self.reader = rows, positions, reader

    def __len__(self) -> int:
        return len(self.positions)

    def __iter__(self) -> Iterator[Example]:
        for position, row in zip(self.positions, self.rows):
            yield self.reader.example(row, position)


class _ReferencedExamples(_IndexedExamples):
    """Like :class:`_IndexedExamples`, but each clip is a :class:`TableRow`: its bytes are never read here."""

    def __init__(self, dataset, positions: list[int], reader: _RowReader, locate):
        import pyarrow.compute as pc

        super().__init__(dataset, positions, reader)
        self.locate = locate
        # only the audio's file names are read (a struct field), never its bytes
        self.names = pc.struct_field(dataset.data.column(reader.audio_column), "path")

    def __iter__(self) -> Iterator[Example]:
        labels = self.rows.select_columns([self.reader.label_column])
        labels = labels.select(self.positions) if self.positions != list(range(len(self.rows))) else labels
        column = self.reader.audio_column
        for position, row in zip(self.positions, labels):
            file, row_in_file = self.locate(position)
            name = self.names[position].as_py()
            reference = TableRow(file, row_in_file, column, name)
            yield self.reader.example({column: reference, self.reader.label_column: row[self.reader.label_column]},
                                      position)


def _stream_examples(dataset, options: DatasetOptions, reader: _RowReader,
                     row_filter: RowFilter | None) -> Iterator[Example]:
    dataset = dataset.map(lambda _, index: {INDEX_COLUMN: index}, with_indices=True)  # row index of the source
    if row_filter:  # before shuffling and take, as for map-style tables
        dataset = dataset.filter(row_filter)
    if options.shuffle:
        dataset = dataset.shuffle(seed=options.seed, buffer_size=options.shuffle_buffer)
    if options.limit:
        dataset = dataset.take(options.limit)
    yielded = False
    for row in dataset:
        yielded = True
        yield reader.example(row, int(row[INDEX_COLUMN]))
    if row_filter and not yielded:  # a stream's rows are only known as they come: say so at its end
        raise DatasetError(row_filter.no_match_message())


def _row_filter(features, columns: list[str], audio_column: str, options: DatasetOptions,
                name: str) -> RowFilter | None:
    """The ``where`` filter, its columns checked against the table's (when known) and ClassLabel names."""
    if not options.where:
        return None
    if any(column == audio_column for column, _ in options.where):
        raise DatasetError(f"{name}: --where cannot filter on the audio column {audio_column!r}")
    class_names = {column: list(feature.names) for column, feature in features.items()
                   if type(feature).__name__ == "ClassLabel"}
    return options.row_filter(name, columns or None, class_names)


def _single_split(dataset, name: str, options: DatasetOptions):
    import datasets

    if isinstance(dataset, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        splits = list(dataset)
        if len(splits) != 1:
            raise DatasetError(f"{name} has splits {', '.join(splits)}: choose one with --split")
        return dataset[splits[0]]
    return dataset


def _is_audio_feature(feature) -> bool:
    return type(feature).__name__ == "Audio"


def _audio_column(features, columns: list[str], options: DatasetOptions, name: str) -> str:
    if options.audio_column:
        if columns and options.audio_column not in columns:
            raise DatasetError(f"{name}: no audio column {options.audio_column!r}; columns are {', '.join(columns)}")
        return options.audio_column
    audio = [column for column in columns if _is_audio_feature(features.get(column))]
    if audio:
        return audio[0]
    if "audio" in columns or not columns:
        return "audio"
    raise DatasetError(f"{name}: no Audio column; columns are {', '.join(columns)} (choose one with --audio-column)")


def _label_column(features, columns: list[str], options: DatasetOptions, name: str) -> str:
    if options.label_column:
        if columns and options.label_column not in columns:
            raise DatasetError(f"{name}: no label column {options.label_column!r}; columns are {', '.join(columns)}")
        return options.label_column
    if DEFAULT_LABEL_COLUMN in columns:
        return DEFAULT_LABEL_COLUMN
    class_labels = [column for column in columns if type(features.get(column)).__name__ == "ClassLabel"]
    if len(class_labels) == 1:
        return class_labels[0]
    raise DatasetError(f"{name}: which column holds the labels? It has no 'label' column"
                       f"{' and several ClassLabel columns' if class_labels else ''}; columns are "
                       f"{', '.join(columns)} (choose one with --label-column, e.g. --label-column intent_class)")


def _keep_columns(dataset, keep: list[str]):
    columns = dataset.column_names
    if not columns or not hasattr(dataset, "select_columns"):
        return dataset
    return dataset.select_columns([c for c in columns if c in keep])


__all__ = ["PARQUET_REVISION", "TABLE_SUFFIXES", "from_hf_dataset", "load_with_parquet_fallback",
           "needs_loading_script", "open_hub_dataset", "open_saved_dataset", "open_table_files", "open_table_folder"]
