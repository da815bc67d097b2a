"""``compare``: two evaluate folders, matched by example id (agreement, deltas, flips)."""

from __future__ import annotations

import json

import pytest

from audiosift.cli.main import main
from audiosift.errors import UsageError
from audiosift.evaluation.compare import compare_runs, format_comparison
from dataset_factory import fixture_datasets, isolated_datasets_cache  # noqa: F401 - fixtures


def _run(folder, model: str, rows, mapping=None, extra_lines=()):
    """An evaluate output folder by hand: rows are (id, dataset label, top-1, second) or (id, label, None)."""
    folder.mkdir()
    lines = []
    for example_id, label, top, *rest in rows:
        record = {"id": example_id, "index": len(lines), "path": f"{example_id}.wav", "label": label, "key": "k"}
        if top is None:
            record["error"] = "could not decode"
        else:
            record["predictions"] = [{"label": top, "score": 0.9}, {"label": rest[0] if rest else "other", "score": 0.1}]
        lines.append(json.dumps(record))
    (folder / "predictions.jsonl").write_text("\n".join([*lines, *extra_lines]) + "\n")
    metrics = {"model": model, "dataset": "toy", "split": "test", "where": None, "accuracy": 0.5, "macro_f1": 0.4,
               "scored": len(rows), "label_mapping": mapping or {"normalised": {}, "label_map": {}, "excluded": [],
                                                                  "unmapped": []}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_agreement_deltas_and_flips(tmp_path):
    mapping = {"normalised": {"Dog_Bark": "dog bark"}, "label_map": {}, "excluded": ["_noise_"], "unmapped": []}
    a = _run(tmp_path / "a", "fp32", [("1", "cat", "cat"), ("2", "Dog_Bark", "dog bark"), ("3", "cat", "dog bark"),
                                      ("4", "cat", "cat"), ("5", "_noise_", "cat"), ("6", "cat", None)], mapping)
    b = _run(tmp_path / "b", "int8", [("1", "cat", "cat"), ("2", "Dog_Bark", "cat"), ("3", "cat", "cat"),
                                      ("4", "cat", "cat"), ("5", "_noise_", "dog bark"), ("6", "cat", "cat")], mapping,
             extra_lines=['{"id": "7", "label": "cat", "predic'])  # a line cut by a killed run: skipped
    result = compare_runs(a, b)
    # Scored by both: 1-4 (5 is excluded from scoring, 6 failed in A).
    assert result["common_examples"] == 4 and result["flipped"] == 2 and result["agreement"] == 0.5
    assert result["runs"]["a"]["accuracy"] == 0.75 and result["runs"]["b"]["accuracy"] == 0.75
    assert result["accuracy_delta"] == 0.0
    changes = {flip["id"]: flip["change"] for flip in result["flips"]}
    assert changes == {"2": "broken in B", "3": "fixed in B"}  # "Dog_Bark" scored as "dog bark" via the mapping
    assert result["fixed_in_b"] == 1 and result["broken_in_b"] == 1
    # macro-F1 over {cat, dog bark}: A gets cat P=2/2 R=2/3 (F1 .8), dog bark P=1/2 R=1 (F1 2/3); B: cat P=3/4
    # R=1 (F1 6/7), dog bark never predicted (F1 0).
    assert result["runs"]["a"]["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert result["macro_f1_delta"] == pytest.approx(6 / 7 / 2 - (0.8 + 2 / 3) / 2)
    text = format_comparison(result)
    assert "agreement 50.00%" in text and "[broken in B] 2.wav  Dog_Bark: dog bark (0.900) -> cat" in text


def test_compare_refuses_unrelated_or_unfinished_folders(tmp_path):
    a = _run(tmp_path / "a", "m", [("1", "cat", "cat")])
    b = _run(tmp_path / "b", "m", [("9", "cat", "cat")])
    with pytest.raises(UsageError, match="no scored example in common"):
        compare_runs(a, b)
    (b / "metrics.json").unlink()
    with pytest.raises(UsageError, match="has not finished"):
        compare_runs(a, b)
    with pytest.raises(UsageError, match="expected an `audiosift evaluate --output` folder"):
        compare_runs(a, tmp_path / "missing")


def test_evaluate_float32_and_int8_then_compare(tmp_path, capsys, monkeypatch, fixture_datasets, ast_model):
    """The documented check of int8 on one's own data: evaluate both ways, then compare."""
    monkeypatch.setenv("AUDIOSIFT_ONNX_CACHE", str(tmp_path / "onnx-cache"))
    common = ["--dataset", str(fixture_datasets["speech_commands"].folder), "--allow-unmapped", "--limit", "6",
              "--no-progress", "--model", str(ast_model)]
    assert main(["evaluate", *common, "--output", str(tmp_path / "fp32")]) == 0
    assert main(["evaluate", *common, "--dtype", "int8", "--output", str(tmp_path / "int8")]) == 0
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "fp32"), str(tmp_path / "int8"), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    fp32 = json.loads((tmp_path / "fp32" / "metrics.json").read_text())
    assert result["common_examples"] == fp32["scored"] > 0
    assert result["runs"]["a"]["accuracy"] == pytest.approx(fp32["accuracy"])  # same examples: the run's own figure
    assert result["agreement"] == 1 - result["flipped"] / result["common_examples"]
    manifest_folder, = (tmp_path / "onnx-cache").iterdir()  # the int8 run loaded a cached int8 export
    assert json.loads((manifest_folder / "audiosift-onnx.json").read_text())["precision"] == "int8"
    assert main(["compare", str(tmp_path / "fp32"), str(tmp_path / "int8")]) == 0
    assert "top-1 agreement" in capsys.readouterr().out
