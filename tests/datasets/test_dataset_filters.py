"""``where`` (``--where COLUMN=VALUE``): row filters on every kind of source, before shuffle and limit."""

from __future__ import annotations

import json

import numpy as np
import pytest

import dataset_factory
from audiosift.datasets import DatasetOptions, open_dataset
from audiosift.datasets.filters import ValueTest, normalise_where, parse_condition
from audiosift.errors import DatasetError

# esc50 fixture rows (2 a class): take 0 is fold 1, take 1 fold 2, so fold 1 holds the even rows.
ESC50_FOLD1 = ["0", "2", "4", "6"]


def ids(opened):
    return [example.id for example in opened]


@pytest.mark.parametrize("streaming", [False, True])
def test_parquet_fold_filter_keeps_row_ids_and_labels(fixture_datasets, streaming):
    parquet = fixture_datasets["esc50"].parquet
    everything = {e.id: e.label for e in open_dataset(parquet, label_column="category")}
    opened = open_dataset(parquet, label_column="category", where=["fold=1"], streaming=streaming)
    examples = list(opened)
    assert [e.id for e in examples] == ESC50_FOLD1  # ids stay the source's row indices
    assert all(everything[e.id] == e.label for e in examples)
    assert sorted({e.label for e in examples}) == ["clock_tick", "dog", "rain", "siren"]
    assert opened.info["where"] == ["fold=1"]
    if not streaming:
        assert opened.size == 4 and opened.info["matching_where"] == 4 and opened.info["size_before_selection"] == 8
        assert opened.label_names == ["clock_tick", "dog", "rain", "siren"]  # the split's labels, not the subset's


def test_several_values_and_several_conditions(fixture_datasets):
    parquet = fixture_datasets["esc50"].parquet
    assert len(ids(open_dataset(parquet, label_column="category", where=["fold=1,2"]))) == 8
    assert ids(open_dataset(parquet, label_column="category", where=["category=dog,rain", "fold=2"])) == ["1", "3"]
    assert ids(open_dataset(parquet, label_column="category", where={"category": ["dog", "rain"], "fold": 2})) == \
        ["1", "3"]  # the library's mapping form


def test_numbers_match_as_numbers_and_booleans_by_name(fixture_datasets):
    parquet = fixture_datasets["esc50"].parquet
    assert ids(open_dataset(parquet, label_column="category", where=["fold=1.0"])) == ESC50_FOLD1
    assert ids(open_dataset(parquet, label_column="category", where={"fold": 1.0})) == ESC50_FOLD1
    assert len(ids(open_dataset(parquet, label_column="category", where=["esc10=False"]))) == 8
    with pytest.raises(DatasetError, match="none of its 8 examples"):
        open_dataset(parquet, label_column="category", where=["esc10=true"])


@pytest.mark.parametrize("streaming", [False, True])
def test_classlabel_by_name_or_id(fixture_datasets, streaming):
    parquet = fixture_datasets["speech_commands"].parquet  # label: ClassLabel, "yes" is id 0, "no" id 1
    by_name = open_dataset(parquet, where=["label=yes,no"], streaming=streaming)
    assert [(e.id, e.label) for e in by_name] == [("0", "yes"), ("1", "yes"), ("2", "no"), ("3", "no")]
    yes = dataset_factory.SPEECH_COMMANDS_LABELS.index("yes")
    assert ids(open_dataset(parquet, where=[f"label={yes}"], streaming=streaming)) == ["0", "1"]
    minds = fixture_datasets["minds14"].parquet  # a ClassLabel column other than the label column
    assert len(ids(open_dataset(minds, label_column="intent_class", where=["lang_id=en-AU"]))) == 6
    assert ids(open_dataset(minds, label_column="intent_class", where=["intent_class=balance"])) == ["2", "3"]


def test_applied_before_shuffle_and_limit(fixture_datasets):
    parquet = fixture_datasets["esc50"].parquet
    assert ids(open_dataset(parquet, label_column="category", where=["fold=1"], limit=3)) == ESC50_FOLD1[:3]
    shuffled = ids(open_dataset(parquet, label_column="category", where=["fold=1"], shuffle=True, seed=5))
    assert sorted(shuffled) == ESC50_FOLD1 and shuffled != ESC50_FOLD1
    assert ids(open_dataset(parquet, label_column="category", where=["fold=1"], shuffle=True, seed=5, limit=2)) == \
        shuffled[:2]
    streamed = ids(open_dataset(parquet, label_column="category", where=["fold=2"], streaming=True, limit=3))
    assert streamed == ["1", "3", "5"]  # take(3) of the fold-2 rows, not fold-2 rows among the first 3


def test_unknown_column_lists_the_columns(fixture_datasets):
    parquet = fixture_datasets["esc50"].parquet
    for streaming in (False, True):
        with pytest.raises(DatasetError, match="no column 'folds' to filter on") as error:
            open_dataset(parquet, label_column="category", where=["folds=1"], streaming=streaming)
        assert "'fold', 'target', 'category'" in str(error.value)
    with pytest.raises(DatasetError, match="audio column"):
        open_dataset(parquet, label_column="category", where=["audio=x"])


def test_no_match_is_an_error_that_shows_the_values(fixture_datasets):
    parquet = fixture_datasets["esc50"].parquet
    with pytest.raises(DatasetError, match=r"none of its 8 examples matches --where fold=7 \('fold' holds 1, 2\)"):
        open_dataset(parquet, label_column="category", where=["fold=7"])
    stream = open_dataset(parquet, label_column="category", where=["fold=7"], streaming=True)
    with pytest.raises(DatasetError, match="no example of the stream matches --where fold=7"):
        list(stream)
    minds = fixture_datasets["minds14"].parquet
    with pytest.raises(DatasetError, match=r"'lang_id' holds en-AU \(2\)"):  # ClassLabel values shown by name
        open_dataset(minds, label_column="intent_class", where=["lang_id=de-DE"])


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_manifest_filters_on_any_column(tmp_path, fixture_datasets, suffix):
    clips = sorted(fixture_datasets["esc50"].folder.rglob("*.wav"))
    rows = [{"path": str(clip), "label": clip.parent.name, "fold": int(clip.name[0])} for clip in clips]
    manifest = tmp_path / f"meta{suffix}"
    if suffix == ".csv":
        manifest.write_text("path,label,fold\n" + "".join(f"{r['path']},{r['label']},{r['fold']}\n" for r in rows))
    else:  # JSON numbers; one row without a fold (JSONL rows may differ)
        rows[-1].pop("fold")
        manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    opened = open_dataset(manifest, where=["fold=2"])
    expected = [r["path"] for r in rows if r.get("fold") == 2]
    assert ids(opened) == expected and len(expected) in (3, 4) and opened.info["matching_where"] == len(expected)
    assert ids(open_dataset(manifest, where=["label=dog", "fold=1,2"])) == [r["path"] for r in rows
                                                                           if r["label"] == "dog"]
    with pytest.raises(DatasetError, match="no column 'split' to filter on.*'path', 'label', 'fold'"):
        open_dataset(manifest, where=["split=test"])


def test_class_folders_filter_on_label_only(fixture_datasets):
    folder = fixture_datasets["speech_commands"].folder
    opened = open_dataset(folder, where=["label=yes,_silence_"], limit=3)
    assert [e.label for e in opened] == ["_silence_", "_silence_", "yes"]
    assert opened.label_names == fixture_datasets["speech_commands"].labels
    with pytest.raises(DatasetError, match="class sub-folders.*'label'.*not 'fold'.*manifest or table"):
        open_dataset(folder, where=["fold=1"])


def test_saved_dataset_streamed_with_a_filter(tmp_path, fixture_datasets):
    import datasets

    table = datasets.load_dataset("parquet", data_files=str(fixture_datasets["esc50"].parquet), split="train")
    table.save_to_disk(str(tmp_path / "saved"))
    for streaming in (False, True):
        opened = open_dataset(tmp_path / "saved", label_column="category", where=["fold=1"], streaming=streaming)
        assert ids(opened) == ESC50_FOLD1


def test_hub_dataset_with_a_filter(monkeypatch, fixture_datasets):
    import datasets

    table = datasets.load_dataset("parquet", data_files=str(fixture_datasets["minds14"].parquet), split="train")
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: table)  # no hub from tests
    opened = open_dataset("PolyAI/minds14", config="all", split="train", label_column="intent_class",
                          where=["lang_id=en-AU", "intent_class=pay_bill"])
    assert [(e.id, e.label) for e in opened] == [("4", "pay_bill"), ("5", "pay_bill")]
    assert opened.info["kind"] == "hub" and opened.info["where"] == ["lang_id=en-AU", "intent_class=pay_bill"]


def test_stream_with_unknown_columns_checks_its_first_row(fixture_datasets):
    import datasets

    from audiosift.datasets.tables import from_hf_dataset

    table = datasets.load_dataset("parquet", data_files=str(fixture_datasets["esc50"].parquet), split="train")
    raw = table.cast_column("audio", datasets.Audio(decode=False)).to_iterable_dataset()
    stream = raw.map(lambda row: row)  # a stream whose features are unknown
    assert stream.column_names is None
    options = DatasetOptions(streaming=True, label_column="category", audio_column="audio", where=["fold=1"])
    assert [e.id for e in from_hf_dataset(stream, "stream", options, {})] == ESC50_FOLD1
    options = DatasetOptions(streaming=True, label_column="category", audio_column="audio", where=["folds=1"])
    with pytest.raises(DatasetError, match="no column 'folds' to filter on.*'fold'") as error:
        list(from_hf_dataset(stream, "stream", options, {}))
    assert "__" not in str(error.value)


def test_where_option_forms_and_checks():
    assert parse_condition(" lang_id = en-AU, de-DE ") == ("lang_id", ("en-AU", "de-DE"))
    assert parse_condition("note=a=b") == ("note", ("a=b",))
    assert normalise_where({"fold": [1, 2], "esc10": True}) == (("fold", ("1", "2")), ("esc10", ("true",)))
    assert normalise_where("fold=1") == normalise_where([("fold", "1")]) == (("fold", ("1",)),)
    assert DatasetOptions(where=["fold=1", "fold=2"]).where == (("fold", ("1",)), ("fold", ("2",)))
    assert DatasetOptions(where={"category": "dog, barking"}).where == (("category", ("dog, barking",)),)
    for bad in (["fold"], ["=1"], ["fold="], ["fold=1,,2"], [("fold", [])], [42], {"": 1}):
        with pytest.raises(ValueError, match="where"):
            DatasetOptions(where=bad)
    assert "where" not in DatasetOptions().selection()  # unused: run.json as before filters existed
    assert DatasetOptions(where=["fold=1"]).selection()["where"] == (("fold", ("1",)),)


def test_value_test_rules():
    ones = ValueTest(("1",))
    assert ones(1) and ones(1.0) and ones("1") and ones(" 1 ") and not ones(11) and not ones(None)
    assert not ones("1.0")  # text cells (CSV) compare as text
    assert not ones(True)  # booleans by name only
    names = ValueTest(("en-AU", "5"), class_names=dataset_factory.MINDS14_LOCALES)
    assert names(2) and names(5) and not names(1) and not names(-1)


def test_without_where_the_order_is_as_before_filters_existed(fixture_datasets):
    """Shuffled runs started before filters existed must resume: same seeded order, nothing recorded."""
    folder = fixture_datasets["fleurs"].folder
    plain = ids(open_dataset(folder))
    order = np.random.default_rng(3).permutation(len(plain))  # how the order was drawn before
    assert ids(open_dataset(folder, shuffle=True, seed=3)) == [plain[i] for i in order]
    assert "where" not in open_dataset(folder).info and "where" not in DatasetOptions(where=None).selection()
