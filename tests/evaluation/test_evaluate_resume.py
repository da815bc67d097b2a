"""Resume: a run killed mid-way (kill -9 or Ctrl-C) and started again loses nothing and repeats nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from audiosift.evaluation import RunConflictError, evaluate

# The child evaluates a class-folder dataset whose examples come from a stream that stalls before
# example STALL_AT (like a slow network stream), so the kill lands at a known point of the run.
CHILD = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from audiosift.datasets import open_dataset
    from audiosift.evaluation import evaluate

    model, folder, output, marker, stall_at = sys.argv[1:6]
    opened = open_dataset(folder)
    examples = list(opened.examples)

    def stalling():
        for position, example in enumerate(examples):
            if position == int(stall_at):
                # the local engine has run the model by now, and must not have imported Ray
                Path(marker).write_text(json.dumps(sorted(m for m in ("ray", "ray.data") if m in sys.modules)))
                time.sleep(600)  # the parent kills us here
            yield example

    opened.examples = stalling()
    evaluate(model, opened, output, batch_size=1, allow_unmapped=True)
""")
STALL_AT = 9
# speech_commands class folders sort as _silence_ x2, _unknown_ x2, marvin x2, no x2, yes x2. The four
# unmapped ones are written at once; with batch size 1 the classifier decodes 4 clips ahead, so when
# the stream stalls before example 9, examples 4-7 are written and example 8 is decoded but not.
WRITTEN_AT_STALL = 8


def line_ids(path):
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_killed_run_resumes_without_loss_or_duplicates(tmp_path, fixture_datasets, ast_model):
    folder = fixture_datasets["speech_commands"].folder
    output, marker = tmp_path / "run", tmp_path / "stalled"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(ast_model), str(folder), str(output), str(marker),
                              str(STALL_AT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, child.stdout.read().decode()
            assert time.monotonic() < deadline, "the child never reached the stall point"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert json.loads(marker.read_text()) == []  # the local engine never imports ray
    predictions = output / "predictions.jsonl"
    before = predictions.read_text().splitlines()
    assert len(before) == WRITTEN_AT_STALL  # everything finished before the stop was on disk
    # A kill can also land in the middle of a write: leave a torn record at the end, as it would.
    with open(predictions, "a") as handle:
        handle.write('{"id": "yes/0001_nohash_0.wav", "index": 9, "pa')

    result = evaluate(str(ast_model), str(folder), output, batch_size=1, allow_unmapped=True)

    after = predictions.read_text().splitlines()
    assert after[:WRITTEN_AT_STALL] == before  # kept as written
    ids = line_ids(predictions)
    assert len(ids) == len(set(ids)) == 10  # nothing duplicated, nothing lost
    metrics = result.metrics
    assert metrics["n"] == 10 and metrics["missing"] == 0
    assert metrics["reused_from_earlier_runs"] == WRITTEN_AT_STALL
    assert metrics["processed_this_run"] == 10 - WRITTEN_AT_STALL  # the in-flight and the torn one
    assert metrics["scored"] + metrics["unmapped"] + metrics["failures"] == 10


def test_interrupted_run_resumes(tmp_path, fixture_datasets, ast_model):
    """Ctrl-C arrives as KeyboardInterrupt wherever the run is; what was written stays usable."""
    from audiosift.datasets import open_dataset

    folder = str(fixture_datasets["speech_commands"].folder)
    opened = open_dataset(folder)
    examples = list(opened.examples)

    def interrupted():
        yield from examples[:STALL_AT]
        raise KeyboardInterrupt

    opened.examples = interrupted()
    with pytest.raises(KeyboardInterrupt):
        evaluate(str(ast_model), opened, tmp_path / "run", batch_size=1, allow_unmapped=True)
    written = line_ids(tmp_path / "run" / "predictions.jsonl")
    assert len(written) == WRITTEN_AT_STALL  # as in the kill test: the decoded-ahead clip is not written
    result = evaluate(str(ast_model), folder, tmp_path / "run", batch_size=2, allow_unmapped=True)
    ids = line_ids(tmp_path / "run" / "predictions.jsonl")
    assert ids[: len(written)] == written and len(ids) == len(set(ids)) == 10
    assert result.metrics["reused_from_earlier_runs"] == len(written) and result.metrics["n"] == 10


def test_resuming_a_finished_run_changes_nothing(tmp_path, fixture_datasets, ast_model):
    folder = fixture_datasets["speech_commands"].folder
    first = evaluate(str(ast_model), str(folder), tmp_path / "run", allow_unmapped=True)
    assert first.metrics["scored"] == 6
    text = (tmp_path / "run" / "predictions.jsonl").read_text()
    again = evaluate(str(ast_model), str(folder), tmp_path / "run", allow_unmapped=True, batch_size=3)
    assert (tmp_path / "run" / "predictions.jsonl").read_text() == text
    assert again.metrics["processed_this_run"] == 0 and again.metrics["throughput_clips_per_s"] is None
    for key in ("n", "scored", "unmapped", "accuracy", "per_class"):
        assert again.metrics[key] == first.metrics[key]


def test_a_different_selection_is_refused_unless_overwritten(tmp_path, fixture_datasets, ast_model):
    folder = str(fixture_datasets["speech_commands"].folder)
    evaluate(str(ast_model), folder, tmp_path / "run", allow_unmapped=True, limit=3)
    with pytest.raises(RunConflictError, match="differs in: selection"):
        evaluate(str(ast_model), folder, tmp_path / "run", allow_unmapped=True, limit=5)
    result = evaluate(str(ast_model), folder, tmp_path / "run", allow_unmapped=True, limit=5, overwrite=True)
    assert result.metrics["n"] == 5 and len(line_ids(tmp_path / "run" / "predictions.jsonl")) == 5


def test_labels_mapped_on_resume_are_classified_then(tmp_path, fixture_datasets, ast_model):
    folder = str(fixture_datasets["speech_commands"].folder)
    first = evaluate(str(ast_model), folder, tmp_path / "run", allow_unmapped=True)
    assert first.metrics["unmapped"] == 4
    label_map = tmp_path / "map.csv"
    label_map.write_text("_silence_,no\n_unknown_,\n")  # silence scored as "no"; unknown left out
    second = evaluate(str(ast_model), folder, tmp_path / "run", label_map=str(label_map))
    metrics = second.metrics
    assert metrics["unmapped"] == 2 and metrics["scored"] == 8 and metrics["processed_this_run"] == 2
    assert metrics["label_mapping"]["label_map"] == {"_silence_": "no"}
    ids = line_ids(tmp_path / "run" / "predictions.jsonl")
    assert len(ids) == len(set(ids)) == 10
