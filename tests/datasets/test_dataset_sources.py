"""open_dataset on local fixture datasets with the seed datasets' schemas, and the hub path with failures injected."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import dataset_factory
from audiosift.audio import decode
from audiosift.datasets import DatasetOptions, open_dataset
from audiosift.datasets.tables import PARQUET_REVISION
from audiosift.errors import DatasetError

RATES = {"minds14": 8000, "speech_commands": 16000, "fleurs": 16000, "esc50": 44100}


@pytest.mark.parametrize("name", list(RATES))
def test_parquet_with_seed_schema_gives_named_labels_and_decodable_audio(fixture_datasets, name):
    fixture = fixture_datasets[name]
    opened = open_dataset(fixture.parquet, label_column=fixture.label_column)
    examples = list(opened)
    assert len(examples) == fixture.size == opened.size
    assert [e.id for e in examples] == [str(i) for i in range(fixture.size)]
    assert sorted({e.label for e in examples}) == fixture.labels  # names, never ClassLabel ints
    assert set(fixture.labels) <= set(opened.label_names)
    samples, rate = decode(examples[0].audio_input())  # {"path", "bytes"} from Audio(decode=False)
    assert rate == RATES[name] and samples.shape[1] > 0
    assert examples[0].path.endswith(".wav")


def test_classlabel_names_are_the_whole_label_set(fixture_datasets):
    opened = open_dataset(fixture_datasets["speech_commands"].parquet)  # "label" column found by itself
    assert opened.label_names == dataset_factory.SPEECH_COMMANDS_LABELS
    assert opened.info["label_column"] == "label"
    minds = open_dataset(fixture_datasets["minds14"].parquet, label_column="intent_class")
    assert minds.label_names[:3] == ["abroad", "address", "app_error"]  # all 14 ClassLabel names


def test_string_label_column_lists_values_of_the_split(fixture_datasets):
    opened = open_dataset(fixture_datasets["esc50"].parquet, label_column="category")
    assert opened.label_names == ["clock_tick", "dog", "rain", "siren"]


@pytest.mark.parametrize("name, hint", [("minds14", "intent_class"), ("esc50", "category")])
def test_missing_label_column_says_which_columns_exist(fixture_datasets, name, hint):
    with pytest.raises(DatasetError, match="--label-column") as error:
        open_dataset(fixture_datasets[name].parquet)
    assert hint in str(error.value)
    with pytest.raises(DatasetError, match="no label column 'nope'"):
        open_dataset(fixture_datasets[name].parquet, label_column="nope")


def test_streaming_yields_the_same_examples_and_shuffles_with_a_seed(fixture_datasets):
    parquet = fixture_datasets["fleurs"].parquet
    plain = [(e.id, e.label) for e in open_dataset(parquet, label_column="language")]
    streamed = open_dataset(parquet, label_column="language", streaming=True)
    assert streamed.label_names is None  # a string column of a stream: unknown until read
    assert [(e.id, e.label) for e in streamed] == plain
    # (one shuffled stream only: datasets 5 sleeps 5 s when a shuffled stream's reader threads shut down)
    shuffled = [(e.id, e.label) for e in open_dataset(parquet, label_column="language", streaming=True,
                                                       shuffle=True, seed=3, limit=4)]
    assert len(shuffled) == 4 and set(shuffled) <= set(plain)  # row ids and labels travel together
    assert shuffled != plain[:4]


def test_limit_and_seeded_shuffle_on_tables(fixture_datasets):
    parquet = fixture_datasets["speech_commands"].parquet
    ordered = [e.id for e in open_dataset(parquet, limit=3)]
    assert ordered == ["0", "1", "2"]
    shuffled = [e.id for e in open_dataset(parquet, shuffle=True, seed=7)]
    assert sorted(shuffled, key=int) == [str(i) for i in range(10)] and shuffled != sorted(shuffled, key=int)
    assert [e.id for e in open_dataset(parquet, shuffle=True, seed=7, limit=4)] == shuffled[:4]
    labels = {e.id: e.label for e in open_dataset(parquet)}
    assert all(labels[e.id] == e.label for e in open_dataset(parquet, shuffle=True, seed=7))  # ids stay row ids


def test_class_folders(fixture_datasets):
    fixture = fixture_datasets["speech_commands"]
    opened = open_dataset(fixture.folder)
    examples = list(opened)
    assert opened.label_names == fixture.labels == sorted({e.label for e in examples})
    assert all(e.id == f"{e.label}/{e.path.rsplit('/', 1)[-1]}" for e in examples)
    assert len(examples) == fixture.size
    shuffled = [e.id for e in open_dataset(fixture.folder, shuffle=True, seed=1)]
    assert sorted(shuffled) == sorted(e.id for e in examples) and shuffled != [e.id for e in examples]
    assert shuffled[:3] == [e.id for e in open_dataset(fixture.folder, shuffle=True, seed=1, limit=3)]


def test_class_folders_with_split_subfolders_and_errors(tmp_path, fixture_datasets):
    shutil.copytree(fixture_datasets["fleurs"].folder, tmp_path / "data" / "test")
    opened = open_dataset(tmp_path / "data", split="test")
    assert opened.label_names == ["English", "French", "German"]
    (tmp_path / "empty" / "dog").mkdir(parents=True)
    with pytest.raises(DatasetError, match="one sub-folder per class"):
        open_dataset(tmp_path / "empty")
    with pytest.raises(DatasetError, match="sub-folder names"):
        open_dataset(tmp_path / "data" / "test", label_column="label")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_manifest_resolves_relative_paths_against_its_folder(tmp_path, monkeypatch, fixture_datasets, suffix):
    shutil.copytree(fixture_datasets["minds14"].folder, tmp_path / "clips")
    files = sorted((tmp_path / "clips").rglob("*.wav"))
    rows = [(p.relative_to(tmp_path).as_posix(), p.parent.name) for p in files[1:]]
    rows.append((str(files[0]), files[0].parent.name))  # an absolute path
    rows.append(("missing.wav", ""))  # no label
    manifest = dataset_factory.write_manifest(tmp_path, rows, suffix)
    monkeypatch.chdir("/")
    opened = open_dataset(manifest)
    examples = list(opened)
    assert [e.id for e in examples] == [row[0] for row in rows]
    assert all(decode(e.audio)[1] == 8000 for e in examples[:-1])  # found from another working folder
    assert examples[-1].audio == tmp_path / "missing.wav" and examples[-1].label is None
    assert opened.label_names == ["abroad", "balance", "pay_bill"]


def test_manifest_errors(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("file_name,class\na.wav,dog\n")
    with pytest.raises(DatasetError, match="no audio path column.*'file_name', 'class'"):
        open_dataset(manifest)
    assert next(iter(open_dataset(manifest, audio_column="file_name", label_column="class"))).label == "dog"
    manifest.write_text("path,label\na.wav,dog\na.wav,cat\n")
    with pytest.raises(DatasetError, match="listed twice"):
        open_dataset(manifest)
    (tmp_path / "m.jsonl").write_text('{"path": "a.wav", "label": 3}\nnot json\n')
    with pytest.raises(DatasetError, match="line 2 is not JSON"):
        open_dataset(tmp_path / "m.jsonl")


def test_save_to_disk_and_table_folders_with_splits(tmp_path, fixture_datasets):
    import datasets

    table = datasets.load_dataset("parquet", data_files=str(fixture_datasets["esc50"].parquet), split="train")
    datasets.DatasetDict({"train": table, "test": table.select([0, 1, 2])}).save_to_disk(str(tmp_path / "saved"))
    opened = open_dataset(tmp_path / "saved", split="test", label_column="category")
    assert [e.label for e in opened] == ["dog", "dog", "rain"]
    with pytest.raises(DatasetError, match="choose one with --split"):
        open_dataset(tmp_path / "saved", label_column="category")
    (tmp_path / "tables").mkdir()
    table.to_parquet(str(tmp_path / "tables" / "train-00000.parquet"))
    table.select([5, 6]).to_parquet(str(tmp_path / "tables" / "test-00000.parquet"))
    opened = open_dataset(tmp_path / "tables", split="test", label_column="category")
    assert [e.label for e in opened] == ["siren", "clock_tick"] and opened.size == 2


def test_path_like_source_that_does_not_exist(tmp_path):
    with pytest.raises(DatasetError, match="no such file or folder"):
        open_dataset(tmp_path / "missing.parquet")
    with pytest.raises(DatasetError, match="no such file or folder"):
        open_dataset("./not/here")


def test_options_are_checked():
    with pytest.raises(ValueError, match="limit"):
        DatasetOptions(limit=0)
    with pytest.raises(TypeError, match="either"):
        open_dataset("x", DatasetOptions(), limit=3)


# --- the hub path, with datasets.load_dataset replaced (no hub is reachable from tests) -----------

class FakeLoadDataset:
    """Stands in for datasets.load_dataset: records calls, raises or returns what each call is given."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = []

    def __call__(self, path, name=None, **kwargs):
        self.calls.append(dict(kwargs, path=path, name=name))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


SCRIPT_ERROR = RuntimeError("Dataset scripts are no longer supported, but found speech_commands.py")


def _local_table(fixture):
    import datasets

    return datasets.load_dataset("parquet", data_files=str(fixture.parquet), split="train")


def test_hub_id_loads_with_config_split_and_streaming(monkeypatch, fixture_datasets):
    import datasets

    fake = FakeLoadDataset(_local_table(fixture_datasets["minds14"]))
    monkeypatch.setattr(datasets, "load_dataset", fake)
    opened = open_dataset("PolyAI/minds14", config="en-AU", split="train", label_column="intent_class")
    assert fake.calls == [dict(path="PolyAI/minds14", name="en-AU", split="train", streaming=False,
                               revision=None, cache_dir=None)]
    assert [e.label for e in opened][:2] == ["abroad", "abroad"]
    assert opened.info["kind"] == "hub" and opened.info["revision"] is None


def test_script_dataset_is_retried_on_the_parquet_export(monkeypatch, fixture_datasets):
    import datasets

    fake = FakeLoadDataset(SCRIPT_ERROR, _local_table(fixture_datasets["speech_commands"]))
    monkeypatch.setattr(datasets, "load_dataset", fake)
    opened = open_dataset("speech_commands", config="v0.02", split="test")
    retry = fake.calls[1]
    assert retry["revision"] == PARQUET_REVISION == "refs/convert/parquet"
    assert retry["data_dir"] == "v0.02" and retry["name"] is None and retry["split"] == "test"
    assert opened.info["revision"] == PARQUET_REVISION
    assert len(list(opened)) == fixture_datasets["speech_commands"].size


def test_parquet_export_failing_too_says_how_to_use_local_files(monkeypatch):
    import datasets

    fake = FakeLoadDataset(SCRIPT_ERROR, FileNotFoundError("no parquet files under v0.02/test"))
    monkeypatch.setattr(datasets, "load_dataset", fake)
    with pytest.raises(DatasetError) as error:
        open_dataset("speech_commands", config="v0.02", split="test")
    message = str(error.value)
    assert "loading script" in message and "refs/convert/parquet" in message
    assert "no parquet files" in message and "one sub-folder of audio files per class" in message
    assert "manifest" in message and len(fake.calls) == 2


def test_unreachable_hub_is_not_retried_and_says_why(monkeypatch):
    import datasets

    fake = FakeLoadDataset(ConnectionError("Couldn't reach 'google/fleurs' on the Hub (LocalEntryNotFoundError)"))
    monkeypatch.setattr(datasets, "load_dataset", fake)
    with pytest.raises(DatasetError, match="Couldn't reach") as error:
        open_dataset("google/fleurs", config="af_za", split="test", label_column="language")
    assert len(fake.calls) == 1 and "local" in str(error.value).lower()


def test_hub_dataset_dict_without_split_needs_one(monkeypatch, fixture_datasets):
    import datasets

    table = _local_table(fixture_datasets["esc50"])
    fake = FakeLoadDataset(datasets.DatasetDict({"train": table, "test": table}),
                           datasets.DatasetDict({"train": table}))
    monkeypatch.setattr(datasets, "load_dataset", fake)
    with pytest.raises(DatasetError, match="splits train, test: choose one with --split"):
        open_dataset("ashraq/esc50", label_column="category")
    assert open_dataset("ashraq/esc50", label_column="category").size == fixture_datasets["esc50"].size


def test_examples_are_plain_data_and_reference_their_audio(fixture_datasets):
    import pickle

    from audiosift.datasets.references import TableRow

    example = next(iter(open_dataset(fixture_datasets["esc50"].parquet, label_column="category")))
    # the audio is a reference to its row (never its bytes, read where it is classified)
    assert isinstance(example.audio, TableRow) and example.audio.path == example.path
    assert len(pickle.dumps(example)) < 1000
    audio = example.audio_input()
    assert set(audio) == {"path", "bytes"} and isinstance(audio["bytes"], bytes)
    json.dumps({"id": example.id, "label": example.label, "index": example.index})
    assert np.isfinite(decode(audio)[0]).all()


def test_table_with_a_column_of_file_paths(tmp_path, fixture_datasets):
    import datasets

    shutil.copytree(fixture_datasets["esc50"].folder, tmp_path / "audio")
    files = sorted((tmp_path / "audio").rglob("*.wav"))
    table = datasets.Dataset.from_dict({"file": [p.relative_to(tmp_path).as_posix() for p in files],
                                        "category": [p.parent.name for p in files]})
    table.to_parquet(str(tmp_path / "meta.parquet"))
    examples = list(open_dataset(tmp_path / "meta.parquet", audio_column="file", label_column="category"))
    assert [e.audio for e in examples] == files  # resolved against the table's folder
    assert decode(examples[0].audio)[1] == 44100 and examples[0].label == files[0].parent.name


def test_a_table_row_whose_file_went_away_is_a_dataset_error(tmp_path):
    from audiosift.datasets.references import TableRow, resolve
    from audiosift.errors import AudiosiftError

    with pytest.raises(AudiosiftError, match="cannot read row 3 .*went away"):
        resolve(TableRow(str(tmp_path / "gone.arrow"), 3, "audio"))


def test_a_mistyped_local_path_fails_at_once(tmp_path, monkeypatch, real_hub_check):
    from audiosift.datasets import tables

    def no_hub(*args, **kwargs):
        raise AssertionError("datasets' hub loader (and its retries) must not run for a missing local path")

    monkeypatch.setattr(tables, "_load_dataset", no_hub)
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match="the folder data/esc-5 does not exist"):
        open_dataset("data/esc-5")  # looks like a hub id, but data/ is a folder here
    with pytest.raises(DatasetError, match="the folder .*/nope does not exist"):
        open_dataset(str(tmp_path / "nope" / "deeper"))


def test_an_unknown_name_asks_the_hub_once_and_quickly(tmp_path, monkeypatch, real_hub_check):
    import huggingface_hub
    from huggingface_hub.errors import RepositoryNotFoundError

    from audiosift.datasets import tables

    monkeypatch.setattr(tables, "_load_dataset", lambda *a, **k: pytest.fail("no slow load for a missing dataset"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match="'esc50' is not a local folder.*HF_HUB_OFFLINE is set"):
        open_dataset("esc50")  # the tests run offline
    monkeypatch.delenv("HF_HUB_OFFLINE")
    asked = []

    def unreachable(source, revision=None, timeout=None):
        asked.append((source, timeout))
        raise OSError("Name or service not known")

    monkeypatch.setattr(huggingface_hub, "dataset_info", unreachable)
    with pytest.raises(DatasetError, match="not a local folder.*hub cannot be reached.*Name or service"):
        open_dataset("esc50")
    assert asked == [("esc50", tables.HUB_PROBE_TIMEOUT_S)]

    def missing(source, revision=None, timeout=None):
        error = RepositoryNotFoundError.__new__(RepositoryNotFoundError)  # the hub's 404, without a response
        Exception.__init__(error, "404 Client Error: Repository Not Found")
        raise error

    monkeypatch.setattr(huggingface_hub, "dataset_info", missing)
    with pytest.raises(DatasetError, match="the hub has no dataset 'someone/esc50'"):
        open_dataset("someone/esc50")
