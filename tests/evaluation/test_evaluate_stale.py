"""Resume is keyed on content: changed, relabelled or moved examples run again; one record per example."""

from __future__ import annotations

import json
import os
import shutil

import pytest

import dataset_factory
from audiosift.evaluation import RunConflictError, evaluate


def records(folder):
    return [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]


def by_id(folder):
    return {r["id"]: r for r in records(folder)}


def same_predictions(a, b):  # batch composition changes scores in the last float digits
    return [p["label"] for p in a] == [p["label"] for p in b] and \
        all(abs(x["score"] - y["score"]) < 1e-5 for x, y in zip(a, b))


@pytest.fixture
def clips(tmp_path, fixture_datasets):
    """A private copy of the speech_commands class folders (tests change files in it)."""
    target = tmp_path / "clips"
    shutil.copytree(fixture_datasets["speech_commands"].folder, target)
    return target


def manifest_of(folder, clips, relabel=None):
    rows = [(p.relative_to(clips).as_posix(), p.parent.name) for p in sorted(clips.rglob("*.wav"))]
    rows = [(path, (relabel or {}).get(path, label)) for path, label in rows]
    return str(dataset_factory.write_manifest(folder, rows))


def test_a_relabelled_manifest_row_is_run_again(tmp_path, clips, ast_model):
    manifest = manifest_of(clips, clips)
    first = evaluate(str(ast_model), manifest, tmp_path / "run", allow_unmapped=True)
    assert first.metrics["unmapped"] == 4 and first.metrics["scored"] == 6
    moved = "_silence_/0000_nohash_0.wav"
    manifest = manifest_of(clips, clips, relabel={moved: "yes"})  # a fix of the dataset's labels
    second = evaluate(str(ast_model), manifest, tmp_path / "run", allow_unmapped=True)
    assert second.metrics["processed_this_run"] == 1 and second.metrics["reused_from_earlier_runs"] == 9
    record = by_id(tmp_path / "run")[moved]
    assert record["label"] == "yes" and "predictions" in record and "unmapped" not in record
    assert second.metrics["unmapped"] == 3 and second.metrics["scored"] == 7 and second.metrics["n"] == 10
    assert len(records(tmp_path / "run")) == 10


def test_replaced_audio_at_the_same_path_is_run_again(tmp_path, clips, ast_model):
    first = evaluate(str(ast_model), str(clips), tmp_path / "run", allow_unmapped=True)
    target = clips / "yes" / "0000_nohash_0.wav"
    before = by_id(tmp_path / "run")["yes/0000_nohash_0.wav"]
    stat = target.stat()
    shutil.copyfile(clips / "no" / "0000_nohash_0.wav", target)  # new content, same name
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    second = evaluate(str(ast_model), str(clips), tmp_path / "run", allow_unmapped=True)
    assert second.metrics["processed_this_run"] == 1 and second.metrics["n"] == first.metrics["n"] == 10
    after = by_id(tmp_path / "run")["yes/0000_nohash_0.wav"]
    assert after["key"] != before["key"]
    assert same_predictions(after["predictions"], by_id(tmp_path / "run")["no/0000_nohash_0.wav"]["predictions"])
    assert not same_predictions(after["predictions"], before["predictions"])
    assert len(records(tmp_path / "run")) == 10


def test_a_moved_file_is_run_again_and_its_stale_record_dropped(tmp_path, clips, ast_model):
    evaluate(str(ast_model), str(clips), tmp_path / "run", allow_unmapped=True)
    (clips / "no" / "0000_nohash_0.wav").rename(clips / "yes" / "moved.wav")  # re-filed under another class
    result = evaluate(str(ast_model), str(clips), tmp_path / "run", allow_unmapped=True)
    ids = [r["id"] for r in records(tmp_path / "run")]
    assert "no/0000_nohash_0.wav" not in ids and "yes/moved.wav" in ids
    assert len(ids) == len(set(ids)) == result.metrics["n"] == 10  # not 11 records for 10 examples
    assert result.metrics["processed_this_run"] == 1
    assert result.metrics["per_class"]["yes"]["support"] == 3


def test_a_table_row_pointing_at_a_moved_file_is_run_again(tmp_path, clips, ast_model):
    import datasets

    files = sorted((clips / "yes").glob("*.wav")) + sorted((clips / "no").glob("*.wav"))
    def write(paths):
        datasets.Dataset.from_dict({"file": [str(p) for p in paths], "label": [p.parent.name for p in files]}) \
            .to_parquet(str(tmp_path / "meta.parquet"))

    write(files)
    evaluate(str(ast_model), str(tmp_path / "meta.parquet"), tmp_path / "run", audio_column="file")
    moved = tmp_path / "elsewhere.wav"
    shutil.copyfile(clips / "no" / files[-1].name, moved)  # row 0 (a "yes") now points at a "no" clip
    write([moved, *files[1:]])
    result = evaluate(str(ast_model), str(tmp_path / "meta.parquet"), tmp_path / "run", audio_column="file")
    assert result.metrics["processed_this_run"] == 1
    record = by_id(tmp_path / "run")["0"]
    assert record["path"] == str(moved)
    assert same_predictions(record["predictions"], by_id(tmp_path / "run")[str(len(files) - 1)]["predictions"])


def test_metrics_count_the_latest_record_once_despite_stale_duplicates(tmp_path, clips, ast_model):
    first = evaluate(str(ast_model), str(clips), tmp_path / "run", allow_unmapped=True)
    lines = (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()
    latest = [json.loads(line) for line in lines if '"predictions"' in line]
    # stale copies of every scored record, written *before* the current ones (as an older run would)
    stale = [json.dumps(dict(r, predictions=[{"label": "no_such_label", "score": 1.0}])) for r in latest]
    (tmp_path / "run" / "predictions.jsonl").write_text("\n".join(stale + lines) + "\n")
    again = evaluate(str(ast_model), str(clips), tmp_path / "run", allow_unmapped=True)
    assert again.metrics["processed_this_run"] == 0
    for key in ("n", "scored", "accuracy", "top5_accuracy", "per_class"):
        assert again.metrics[key] == first.metrics[key], key
    assert len(records(tmp_path / "run")) == 10


def test_a_changed_model_in_the_same_folder_is_refused(tmp_path, clips, ast_model):
    model = tmp_path / "model"
    shutil.copytree(ast_model, model)
    evaluate(str(model), str(clips), tmp_path / "run", allow_unmapped=True, limit=3)
    config = json.loads((model / "config.json").read_text())
    config["id2label"] = {str(i): f"{label}_v2" for i, label in config["id2label"].items()}  # retrained labels
    config["label2id"] = {label: int(i) for i, label in config["id2label"].items()}
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(RunConflictError, match="model_files.*model_labels|model_labels.*model_files"):
        evaluate(str(model), str(clips), tmp_path / "run", allow_unmapped=True, limit=3)
    assert len(records(tmp_path / "run")) == 3  # nothing of the earlier run was touched
    result = evaluate(str(model), str(clips), tmp_path / "run", allow_unmapped=True, limit=3, overwrite=True)
    assert result.metrics["reused_from_earlier_runs"] == 0


def test_an_unexpected_error_is_the_examples_failure_and_retried_on_resume(tmp_path, clips, ast_model,
                                                                          monkeypatch):
    from audiosift.evaluation import engines

    real = engines.classify_stream
    bad = str(clips / "yes" / "0001_nohash_0.wav")

    def flaky(classifier, inputs, job):  # an error that is not an AudiosiftError escapes the classifier
        def checked():
            for audio in inputs:
                if str(audio) == bad:
                    raise RuntimeError("decoder crashed")
                yield audio
        return real(classifier, checked(), job)

    monkeypatch.setattr(engines, "classify_stream", flaky)
    first = evaluate(str(ast_model), str(clips), tmp_path / "run", allow_unmapped=True, batch_size=2)
    failed = by_id(tmp_path / "run")["yes/0001_nohash_0.wav"]
    assert "RuntimeError: decoder crashed" in failed["error"] and failed["retry"] is True
    assert first.metrics["failures"] == 1 and first.metrics["scored"] == 5 and first.metrics["n"] == 10
    monkeypatch.setattr(engines, "classify_stream", real)  # the cause went away: a resume retries it
    second = evaluate(str(ast_model), str(clips), tmp_path / "run", allow_unmapped=True)
    assert second.metrics["processed_this_run"] == 1 and second.metrics["failures"] == 0
    assert "predictions" in by_id(tmp_path / "run")["yes/0001_nohash_0.wav"]
