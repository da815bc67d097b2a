"""predictions.jsonl survives partial writes and duplicates; run.json and the lock guard the folder."""

from __future__ import annotations

import json

import pytest

from audiosift.evaluation.store import OutputLock, PredictionStore, RunConflictError, check_run_identity


def lines(path):
    return path.read_text().splitlines()


def test_append_then_reopen_keeps_the_latest_record_of_each_id_once(tmp_path):
    path = tmp_path / "predictions.jsonl"
    with PredictionStore(path, fsync_every=2).open() as store:
        for i in range(5):
            store.append({"id": str(i), "predictions": []})
        store.append({"id": "3", "predictions": ["again"]})  # a re-run supersedes the stale record
        assert store.records["3"] == {"id": "3", "predictions": ["again"]} and len(store.records) == 5
    assert len(lines(path)) == 6  # appended, line by line: the stale line is only dropped on compaction
    reopened = PredictionStore(path).open()
    assert list(reopened.records) == ["0", "1", "2", "4", "3"] and reopened.records["3"]["predictions"] == ["again"]
    assert reopened.dropped_duplicates == 1 and len(lines(path)) == 5  # rewritten with one line per id
    reopened.close()


def test_compact_keeps_one_record_per_example_of_the_run(tmp_path):
    path = tmp_path / "predictions.jsonl"
    with PredictionStore(path).open() as store:
        for example_id in ("a", "b", "gone", "a"):
            store.append({"id": example_id, "n": len(store.records)})
        store.compact(["a", "b"])  # "gone" is no longer in the dataset
        store.append({"id": "c"})  # still appendable after the rewrite
    assert [json.loads(line) for line in lines(path)] == [{"id": "b", "n": 1}, {"id": "a", "n": 3}, {"id": "c"}]


def test_rewritten_files_get_the_umask_mode_not_mkstemps_0600(tmp_path):
    import os
    import stat

    from audiosift.evaluation.store import write_text_atomically

    previous = os.umask(0o022)
    try:
        write_text_atomically(tmp_path / "metrics.json", "{}\n")
        path = tmp_path / "predictions.jsonl"
        path.write_text('{"id": "a"}\n{"id": "a"}\n')
        os.chmod(path, 0o600)
        PredictionStore(path).open().close()  # duplicates: rewritten through a temporary file
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode) == 0o644
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_partial_last_line_from_a_kill_is_dropped_and_the_file_repaired(tmp_path):
    path = tmp_path / "predictions.jsonl"
    good = [json.dumps({"id": str(i), "predictions": []}) for i in range(3)]
    path.write_text("\n".join(good) + '\n{"id": "3", "predic')
    store = PredictionStore(path).open()
    assert list(store.records) == ["0", "1", "2"] and store.dropped_lines == 1
    store.append({"id": "3", "predictions": []})
    store.close()
    assert [json.loads(line)["id"] for line in lines(path)] == ["0", "1", "2", "3"]  # no glued line


def test_complete_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_text(json.dumps({"id": "0"}) + "\n" + json.dumps({"id": "1"}))
    with PredictionStore(path).open() as store:
        store.append({"id": "2"})
    assert [json.loads(line)["id"] for line in lines(path)] == ["0", "1", "2"]


def test_duplicates_and_corrupt_lines_are_dropped_latest_record_wins(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_text('{"id": "a", "n": 1}\nnot json\n{"id": "a", "n": 2}\n{"no_id": 1}\n{"id": "b", "n": 3}\n')
    store = PredictionStore(path).open()
    store.close()
    assert store.records == {"a": {"id": "a", "n": 2}, "b": {"id": "b", "n": 3}}
    assert store.dropped_duplicates == 1 and store.dropped_lines == 2
    assert len(lines(path)) == 2  # rewritten clean


def test_keep_filter_drops_records_on_open(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_text('{"id": "a", "unmapped": true}\n{"id": "b"}\n')
    store = PredictionStore(path).open(keep=lambda record: not record.get("unmapped"))
    store.close()
    assert list(store.records) == ["b"] and lines(path) == ['{"id": "b"}']


def test_run_identity_guards_the_folder(tmp_path):
    identity = {"model": "m", "selection": {"limit": 5}}
    assert check_run_identity(tmp_path, identity, overwrite=False) is False  # new run
    (tmp_path / "predictions.jsonl").write_text('{"id": "0"}\n')
    assert check_run_identity(tmp_path, identity, overwrite=False) is True  # resume
    with pytest.raises(RunConflictError, match="differs in: selection"):
        check_run_identity(tmp_path, {"model": "m", "selection": {"limit": 6}}, overwrite=False)
    assert check_run_identity(tmp_path, {"model": "m", "selection": {"limit": 6}}, overwrite=True) is False
    assert not (tmp_path / "predictions.jsonl").exists()


def test_a_run_that_wrote_nothing_is_simply_replaced(tmp_path):
    assert check_run_identity(tmp_path, {"model": "a"}, overwrite=False) is False
    assert check_run_identity(tmp_path, {"model": "b"}, overwrite=False) is False  # no predictions to lose
    assert json.loads((tmp_path / "run.json").read_text()) == {"model": "b"}


def test_predictions_without_run_file_are_not_adopted(tmp_path):
    (tmp_path / "predictions.jsonl").write_text('{"id": "0"}\n')
    with pytest.raises(RunConflictError, match="--overwrite"):
        check_run_identity(tmp_path, {"model": "m"}, overwrite=False)


def test_two_runs_cannot_write_one_folder(tmp_path):
    with OutputLock(tmp_path):
        with pytest.raises(RunConflictError, match="another evaluation"):
            with OutputLock(tmp_path):
                pass
    with OutputLock(tmp_path):  # released
        pass
