"""evaluate(where=...): the subset is what is classified, and it is part of the run's identity."""

from __future__ import annotations

import json

import pytest

from audiosift.datasets import open_dataset
from audiosift.errors import DatasetError
from audiosift.evaluation import RunConflictError, evaluate


def record_ids(folder):
    return [json.loads(line)["id"] for line in (folder / "predictions.jsonl").read_text().splitlines()]


def test_filtered_run_records_the_filter_everywhere(tmp_path, fixture_datasets, ast_model):
    parquet = str(fixture_datasets["speech_commands"].parquet)  # rows 0-1 yes, 2-3 no, then marvin, ...
    output = tmp_path / "run"
    result = evaluate(str(ast_model), parquet, output, where=["label=yes,no"], limit=3, allow_unmapped=True)
    metrics = result.metrics
    assert record_ids(output) == ["0", "1", "2"]  # the filter first, then the limit
    assert (metrics["n"], metrics["scored"], metrics["unmapped"]) == (3, 3, 0)
    assert metrics["where"] == ["label=yes,no"]
    assert {label: row["support"] for label, row in metrics["per_class"].items() if row["support"]} == \
        {"yes": 2, "no": 1}
    assert json.loads((output / "metrics.json").read_text())["where"] == ["label=yes,no"]
    run = json.loads((output / "run.json").read_text())
    assert run["selection"]["where"] == [["label", ["yes", "no"]]] and run["source"]["where"] == ["label=yes,no"]
    assert "| subset (--where) | label=yes,no |" in (output / "report.md").read_text()


def test_resuming_with_another_filter_is_refused(tmp_path, fixture_datasets, ast_model):
    folder = str(fixture_datasets["speech_commands"].folder)
    output = tmp_path / "run"
    first = evaluate(str(ast_model), folder, output, where={"label": ["yes", "marvin"]}, allow_unmapped=True)
    assert first.metrics["n"] == 4
    for other in (["label=yes"], ["label=yes,marvin,no"], None):
        with pytest.raises(RunConflictError, match="differs in: .*selection"):
            evaluate(str(ast_model), folder, output, where=other, allow_unmapped=True)
    # the same filter, written another way, is the same run: resumed, nothing classified again
    again = evaluate(str(ast_model), folder, output, where=["label=yes,marvin"], allow_unmapped=True)
    assert again.metrics["processed_this_run"] == 0 and again.metrics["reused_from_earlier_runs"] == 4
    fresh = evaluate(str(ast_model), folder, output, where=["label=no"], allow_unmapped=True, overwrite=True)
    assert fresh.metrics["n"] == 2 and record_ids(output) == ["no/0000_nohash_0.wav", "no/0001_nohash_0.wav"]


def test_filter_errors_come_before_any_work(tmp_path, fixture_datasets, ast_model):
    parquet = str(fixture_datasets["esc50"].parquet)
    with pytest.raises(DatasetError, match="no column 'fold_id'.*'fold'"):
        evaluate(str(ast_model), parquet, tmp_path / "a", label_column="category", where=["fold_id=1"])
    with pytest.raises(DatasetError, match="none of its 8 examples matches --where fold=9"):
        evaluate(str(ast_model), parquet, tmp_path / "b", label_column="category", where=["fold=9"])
    assert not (tmp_path / "a" / "run.json").exists() and not (tmp_path / "b" / "run.json").exists()
    with pytest.raises(ValueError, match="where"):
        evaluate(str(ast_model), parquet, tmp_path / "c", label_column="category", where=["fold"])


def test_dataset_options_with_an_opened_dataset_are_refused(tmp_path, fixture_datasets, ast_model):
    opened = open_dataset(fixture_datasets["speech_commands"].folder)
    with pytest.raises(ValueError, match="apply when a dataset is opened"):
        evaluate(str(ast_model), opened, tmp_path / "run", where=["label=yes"], allow_unmapped=True)
