"""End to end: the tiny test models evaluated on the fixture datasets (seed schemas), outputs checked."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import audiosift
import dataset_factory
from audiosift.datasets import open_dataset
from audiosift.errors import LabelMappingError
from audiosift.evaluation import evaluate
from audiosift.evaluation.runner import zero_shot_candidates

SCORE_TOLERANCE = 1e-5


def read_records(folder):
    return [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]


def assert_same_predictions(records, examples, expected):
    """records (any order) hold, per example id, the predictions ``expected`` (in example order) lists."""
    by_id = {record["id"]: record for record in records}
    for example, predictions in zip(examples, expected):
        got = by_id[example.id]["predictions"]
        assert [p["label"] for p in got] == [p["label"] for p in predictions]
        np.testing.assert_allclose([p["score"] for p in got], [p["score"] for p in predictions], atol=SCORE_TOLERANCE)


def test_keywords_on_speech_commands_parquet(tmp_path, fixture_datasets, ast_model):
    fixture = fixture_datasets["speech_commands"]
    with pytest.raises(LabelMappingError, match="'_silence_'.*'_unknown_'"):  # listed up front...
        evaluate(str(ast_model), str(fixture.parquet), tmp_path / "refused")
    assert not (tmp_path / "refused" / "predictions.jsonl").exists()  # ...before any work

    result = evaluate(str(ast_model), str(fixture.parquet), tmp_path / "run", allow_unmapped=True, batch_size=4)
    metrics = result.metrics
    assert (metrics["n"], metrics["unmapped"], metrics["scored"], metrics["failures"]) == (10, 4, 6, 0)
    assert metrics["label_mapping"]["unmapped"] == ["_silence_", "_unknown_"]
    records = read_records(tmp_path / "run")
    assert sorted(r["id"] for r in records) == sorted(str(i) for i in range(10))
    assert {r["label"] for r in records if r.get("unmapped")} == {"_silence_", "_unknown_"}

    # The same predictions as the classifier gives directly (labels compared by name, not ClassLabel id).
    scored = [e for e in open_dataset(fixture.parquet) if not e.label.startswith("_")]
    classifier = audiosift.load(str(ast_model))
    assert classifier.labels.index("yes") != dataset_factory.SPEECH_COMMANDS_LABELS.index("yes")
    assert_same_predictions(records, scored, classifier([e.audio_input() for e in scored], top_k=5))
    top1 = [classifier(e.audio_input(), top_k=1)[0]["label"] for e in scored]
    assert metrics["accuracy"] == pytest.approx(np.mean([t == e.label for t, e in zip(top1, scored)]))
    for name in ("metrics.json", "confusion.csv", "confusion.png", "report.md", "run.json"):
        assert (tmp_path / "run" / name).stat().st_size > 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["scored"] == 6


def test_known_accuracy_through_a_manifest_with_loosely_written_labels(tmp_path, fixture_datasets, wav2vec2_model):
    """Labels are set from the model's own ranking: every other clip right, the rest its last choice."""
    classifier = audiosift.load(str(wav2vec2_model))
    clips = sorted(fixture_datasets["minds14"].folder.rglob("*.wav"))
    rankings = classifier([str(c) for c in clips], top_k=None)
    rows = []
    for i, (clip, ranking) in enumerate(zip(clips, rankings)):
        label = ranking[0]["label"] if i % 2 == 0 else ranking[-1]["label"]
        rows.append((str(clip), label.upper().replace("_", " ")))  # "PAY BILL" for pay_bill
    manifest = dataset_factory.write_manifest(tmp_path, rows, ".jsonl")
    metrics = evaluate(str(wav2vec2_model), str(manifest), tmp_path / "run").metrics
    assert metrics["accuracy"] == 0.5 and metrics["top5_accuracy"] == 0.5 and metrics["scored"] == len(clips)
    assert set(metrics["label_mapping"]["normalised"].values()) <= set(classifier.labels)
    truth = [label for label in (r[1] for r in rows)]
    correct_classes = {rows[i][1] for i in range(0, len(rows), 2)}
    for label in correct_classes:
        model_label = metrics["label_mapping"]["normalised"][label]
        assert metrics["per_class"][model_label]["recall"] > 0
    assert sum(v["support"] for v in metrics["per_class"].values()) == len(truth)


def test_intent_on_minds14_8khz_parquet(tmp_path, fixture_datasets, wav2vec2_model):
    fixture = fixture_datasets["minds14"]
    result = evaluate(str(wav2vec2_model), str(fixture.parquet), tmp_path / "run", label_column="intent_class")
    examples = list(open_dataset(fixture.parquet, label_column="intent_class"))
    expected = audiosift.load(str(wav2vec2_model))([e.audio_input() for e in examples], top_k=5)  # 8 kHz resampled
    assert_same_predictions(read_records(tmp_path / "run"), examples, expected)
    assert result.metrics["scored"] == 6 and result.metrics["unmapped"] == 0


def test_language_on_fleurs_parquet_string_labels(tmp_path, fixture_datasets, whisper_model):
    fixture = fixture_datasets["fleurs"]
    result = evaluate(str(whisper_model), str(fixture.parquet), tmp_path / "run", label_column="language")
    metrics = result.metrics
    assert metrics["scored"] == 6 and metrics["unmapped"] == 0 and metrics["label_mapping"]["normalised"] == {}
    examples = list(open_dataset(fixture.parquet, label_column="language"))
    expected = audiosift.load(str(whisper_model))([e.audio_input() for e in examples], top_k=5)
    assert_same_predictions(read_records(tmp_path / "run"), examples, expected)
    assert sum(v["support"] for v in metrics["per_class"].values()) == 6


def test_zero_shot_esc50_uses_the_dataset_labels_and_templates(tmp_path, fixture_datasets, clap_model):
    fixture = fixture_datasets["esc50"]
    templates = ("This is a sound of {}.", "The sound of {} can be heard.")
    result = evaluate(str(clap_model), str(fixture.parquet), tmp_path / "run", label_column="category",
                      templates=list(templates), batch_size=4)
    opened = open_dataset(fixture.parquet, label_column="category")
    candidates = list(zero_shot_candidates(opened, {}))
    assert candidates == ["clock tick", "dog", "rain", "siren"]
    zero_shot = audiosift.load(str(clap_model))
    expected = zero_shot([e.audio_input() for e in opened], candidate_labels=candidates, hypothesis_template=list(templates),
                         top_k=5)
    assert_same_predictions(read_records(tmp_path / "run"), list(opened), expected)
    metrics = result.metrics
    assert metrics["label_mapping"]["normalised"] == {"clock_tick": "clock tick"}
    assert metrics["scored"] == 8 and metrics["top5_accuracy"] is None  # 4 candidates: always in the top 5
    assert "top-5" not in (tmp_path / "run" / "report.md").read_text()
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["templates"] == list(templates) and run["candidate_labels"] == candidates

    label_map = tmp_path / "prompts.json"  # for zero-shot, the label map gives each label's text
    label_map.write_text(json.dumps({"dog": "a dog", "rain": None}))
    mapped = evaluate(str(clap_model), str(fixture.parquet), tmp_path / "mapped", label_column="category",
                      label_map=str(label_map))
    labels = {p["label"] for r in read_records(tmp_path / "mapped") if "predictions" in r for p in r["predictions"]}
    assert labels == {"clock tick", "a dog", "siren"} and mapped.metrics["unmapped"] == 2


def test_bad_clips_are_reported_and_the_others_scored(tmp_path, fixture_datasets, ast_model):
    good = sorted((fixture_datasets["speech_commands"].folder / "yes").glob("*.wav"))
    (tmp_path / "notes.wav").write_text("this is not audio")
    rows = [(str(p), "yes") for p in good] + [("missing.wav", "no"), ("notes.wav", "no")]
    manifest = dataset_factory.write_manifest(tmp_path, rows)
    result = evaluate(str(ast_model), str(manifest), tmp_path / "run")
    metrics = result.metrics
    assert (metrics["n"], metrics["failures"], metrics["scored"]) == (4, 2, 2)
    errors = {r["id"]: r["error"] for r in read_records(tmp_path / "run") if "error" in r}
    assert "no such file" in errors["missing.wav"] and "notes.wav" in errors["notes.wav"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Failures" in report and "missing.wav" in report


def test_report_and_confusion_csv_agree_with_metrics(tmp_path, fixture_datasets, ast_model):
    fixture = fixture_datasets["speech_commands"]
    result = evaluate(str(ast_model), str(fixture.folder), tmp_path / "run", allow_unmapped=True, shuffle=True,
                      limit=7, seed=2)
    metrics = result.metrics
    assert metrics["n"] == 7
    with open(tmp_path / "run" / "confusion.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    classes = rows[0][1:]
    counts = np.array([[int(x) for x in row[1:]] for row in rows[1:]])
    assert [row[0] for row in rows[1:]] == classes and counts.sum() == metrics["scored"]
    assert np.trace(counts) / counts.sum() == pytest.approx(metrics["accuracy"])
    assert {c: int(s) for c, s in zip(classes, counts.sum(axis=1))} == \
        {c: v["support"] for c, v in metrics["per_class"].items()}
    report = (tmp_path / "run" / "report.md").read_text()
    assert f"| scored | {metrics['scored']} |" in report and "## Most confused pairs" in report
    assert "![confusion matrix" in report and "(confusion.png)" in report
    assert f"| weighted F1 | {metrics['weighted_f1']:.4f} |" in report
    assert f"| balanced accuracy (mean recall) | {metrics['balanced_accuracy']:.2%} |" in report


def test_report_lists_the_most_confident_errors_and_says_where_it_came_from(tmp_path, fixture_datasets, ast_model):
    fixture = fixture_datasets["speech_commands"]
    result = evaluate(str(ast_model), str(fixture.folder), tmp_path / "run", allow_unmapped=True,
                      command="audiosift evaluate -m tiny -d data -o run")
    records = {r["id"]: r for r in read_records(tmp_path / "run") if r.get("predictions")}
    wrong = [r for r in records.values() if r["predictions"][0]["label"] != r["label"]]
    assert len(wrong) >= 2
    report = (tmp_path / "run" / "report.md").read_text()
    section = report.split("## Misclassified examples")[1].split("##")[0]
    listed = [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ") and
              not line.startswith("| id")]
    scores = [records[i]["predictions"][0]["score"] for i in listed]
    assert scores == sorted(scores, reverse=True) and len(listed) == min(len(wrong), 10)
    assert max(r["predictions"][0]["score"] for r in wrong) == scores[0]

    origin = json.loads((tmp_path / "run" / "metrics.json").read_text())["provenance"]
    assert origin == result.metrics["provenance"]
    assert origin["audiosift_version"] == audiosift.__version__
    assert origin["model"]["model_id"] and origin["model"]["files_fingerprint"]  # a local folder: its files
    assert origin["dataset"]["name"] and "shuffle" in origin["dataset"]["selection"]
    assert origin["command"] == "audiosift evaluate -m tiny -d data -o run"
    assert origin["machine"]["device"] == "cpu" and origin["machine"]["dtype"] == "float32"
    assert origin["machine"]["backend"] == "TransformersBackend" and origin["date"].startswith("20")
    for text in (f"audiosift {audiosift.__version__}", origin["model"]["files_fingerprint"],
                 "`audiosift evaluate -m tiny -d data -o run`", "device cpu, dtype float32"):
        assert text in report.split("## Provenance")[1]


def test_templates_need_a_zero_shot_model(tmp_path, fixture_datasets, ast_model):
    with pytest.raises(ValueError, match="zero-shot"):
        evaluate(str(ast_model), str(fixture_datasets["esc50"].folder), tmp_path / "run", templates=["{}"])


def test_zero_shot_templates_are_checked_up_front_and_named_sets_expanded(tmp_path, fixture_datasets, clap_model):
    from audiosift.inference.zero_shot import SOUND_TEMPLATES

    parquet = str(fixture_datasets["esc50"].parquet)
    with pytest.raises(ValueError, match="no '{}'"):
        evaluate(str(clap_model), parquet, tmp_path / "bad", label_column="category", templates=["A sound."])
    assert not (tmp_path / "bad" / "run.json").exists()
    evaluate(str(clap_model), parquet, tmp_path / "run", label_column="category", templates="ensemble", limit=2)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["templates"] == list(SOUND_TEMPLATES)


def test_labels_of_a_stream_are_checked_as_they_come(tmp_path, fixture_datasets, ast_model, clap_model):
    from audiosift.errors import DatasetError

    parquet = str(fixture_datasets["fleurs"].parquet)  # "language" is a string column: unknown up front
    with pytest.raises(LabelMappingError, match="'English'"):
        evaluate(str(ast_model), parquet, tmp_path / "run", label_column="language", streaming=True)
    result = evaluate(str(ast_model), parquet, tmp_path / "run", label_column="language", streaming=True,
                      allow_unmapped=True)
    assert result.metrics["unmapped"] == 6 and result.metrics["accuracy"] is None
    with pytest.raises(DatasetError, match="label names up front"):
        evaluate(str(clap_model), parquet, tmp_path / "zs", label_column="language", streaming=True)


def test_bad_options_are_usage_errors_naming_the_option(tmp_path):
    from audiosift.datasets import DatasetOptions
    from audiosift.errors import UsageError
    from audiosift.evaluation import EvaluationOptions

    with pytest.raises(UsageError, match="batch_size must be a positive integer, got 0"):
        EvaluationOptions(output=str(tmp_path), batch_size=0)
    with pytest.raises(UsageError, match="ray_address / ray_actors"):
        EvaluationOptions(output=str(tmp_path), ray_actors=2)
    with pytest.raises(UsageError, match="limit must be a positive integer"):
        DatasetOptions(limit=-1)
