"""``engine="ray"`` on a local 2-CPU Ray, kept offline (shared/reference/offline-setup.md), against the local engine."""

from __future__ import annotations

import json
import pickle
import shutil
import tempfile
import time

import numpy as np
import pytest

import dataset_factory
from audiosift.evaluation import evaluate

pytestmark = pytest.mark.ray

RAY_PROCESS_NAMES = ("raylet", "gcs_server", "ray::", "dashboard", "log_monitor", "monitor.py", "default_worker",
                     "runtime_env_agent")


def _ray_children():
    import psutil

    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            text = " ".join(process.cmdline()) or process.name()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if any(name in text for name in RAY_PROCESS_NAMES):
            found.append(process)
    return found


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """A local Ray with 2 CPUs that never reaches the network; shut down, and its processes gone, after."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield from _start_local_ray(tmp_path_factory.mktemp("ray_home"), monkeypatch)


def _start_local_ray(home, monkeypatch):
    (home / "ray_bootstrap_config.yaml").write_text("provider: {type: local}\n")  # no cloud metadata probing
    for name, value in {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
                        "RAY_AUTH_MODE": "disabled", "HOME": str(home)}.items():
        monkeypatch.setenv(name, value)
    import ray
    import ray.data

    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp_dir, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield ray
    finally:
        ray.shutdown()
        deadline = time.monotonic() + 30
        while _ray_children() and time.monotonic() < deadline:
            time.sleep(0.2)
        leftovers = _ray_children()
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not leftovers, f"Ray processes still running after shutdown: {leftovers}"


def records_by_id(folder):
    return {r["id"]: r for r in map(json.loads, (folder / "predictions.jsonl").read_text().splitlines())}


def test_ray_engine_writes_what_the_local_engine_writes_and_resumes(tmp_path, fixture_datasets, ast_model,
                                                                   local_ray):
    fixture = fixture_datasets["speech_commands"]
    clips = sorted(fixture.folder.rglob("*.wav"))
    (tmp_path / "notes.wav").write_text("not audio")
    rows = [(str(p), p.parent.name) for p in clips] + [("missing.wav", "yes"), ("notes.wav", "no")]
    manifest = str(dataset_factory.write_manifest(tmp_path, rows))
    common = dict(allow_unmapped=True, batch_size=3)
    local = evaluate(str(ast_model), manifest, tmp_path / "local", **common)

    # The Ray run starts as a resumed run: the first records (the 4 unmapped ones, written at once,
    # and one prediction) are already there; Ray classifies the remaining 5 clips and 2 bad files.
    (tmp_path / "ray").mkdir()
    shutil.copy(tmp_path / "local" / "run.json", tmp_path / "ray" / "run.json")
    kept = (tmp_path / "local" / "predictions.jsonl").read_text().splitlines()[:5]
    (tmp_path / "ray" / "predictions.jsonl").write_text("\n".join(kept) + "\n")
    on_ray = evaluate(str(ast_model), manifest, tmp_path / "ray", engine="ray", ray_actors=1, **common)
    assert local_ray.is_initialized()  # the engine used the running Ray and left it to its owner
    assert on_ray.metrics["reused_from_earlier_runs"] == 5 and on_ray.metrics["processed_this_run"] == 7

    local_records, ray_records = records_by_id(tmp_path / "local"), records_by_id(tmp_path / "ray")
    assert set(ray_records) == set(local_records) and len(ray_records) == len(rows)
    for example_id, expected in local_records.items():
        got = ray_records[example_id]
        assert {k: got.get(k) for k in ("label", "index", "path", "unmapped")} == \
            {k: expected.get(k) for k in ("label", "index", "path", "unmapped")}
        assert ("error" in got) == ("error" in expected)
        if "predictions" in expected:
            assert [p["label"] for p in got["predictions"]] == [p["label"] for p in expected["predictions"]]
            np.testing.assert_allclose([p["score"] for p in got["predictions"]],
                                       [p["score"] for p in expected["predictions"]], atol=1e-5)
    assert "no such file" in ray_records["missing.wav"]["error"]
    assert "notes.wav" in ray_records["notes.wav"]["error"]
    for key in ("n", "scored", "failures", "unmapped", "accuracy", "top5_accuracy", "macro_f1", "per_class"):
        assert on_ray.metrics[key] == local.metrics[key], key
    assert on_ray.metrics["engine"] == "ray" and on_ray.metrics["failures"] == 2
    for name in ("metrics.json", "confusion.csv", "confusion.png", "report.md"):
        assert (tmp_path / "ray" / name).exists()


def test_ray_engine_classifies_the_filtered_examples(tmp_path, fixture_datasets, ast_model, local_ray):
    parquet = str(fixture_datasets["speech_commands"].parquet)  # rows 0-1 yes, 2-3 no, 4-5 marvin, ...
    common = dict(where=["label=no,marvin"], shuffle=True, seed=4, limit=3, batch_size=2, allow_unmapped=True)
    local = evaluate(str(ast_model), parquet, tmp_path / "local", **common)
    on_ray = evaluate(str(ast_model), parquet, tmp_path / "ray", engine="ray", **common)
    local_records, ray_records = records_by_id(tmp_path / "local"), records_by_id(tmp_path / "ray")
    assert set(ray_records) == set(local_records) and len(ray_records) == 3 and set(ray_records) <= set("2345")
    for example_id, expected in local_records.items():
        assert [p["label"] for p in ray_records[example_id]["predictions"]] == \
            [p["label"] for p in expected["predictions"]]
    assert on_ray.metrics["where"] == local.metrics["where"] == ["label=no,marvin"]
    assert on_ray.metrics["per_class"] == local.metrics["per_class"]


def test_ray_engine_needs_a_model_name(tmp_path, fixture_datasets, ast_model):
    import audiosift

    with pytest.raises(ValueError, match="name or path"):
        evaluate(audiosift.load(str(ast_model)), str(fixture_datasets["speech_commands"].folder), tmp_path,
                 engine="ray", allow_unmapped=True)


def _same_records(got, expected):
    assert set(got) == set(expected)
    for example_id, record in expected.items():
        assert {k: got[example_id].get(k) for k in ("label", "index", "path", "unmapped", "key")} == \
            {k: record.get(k) for k in ("label", "index", "path", "unmapped", "key")}
        if "predictions" in record:
            assert [p["label"] for p in got[example_id]["predictions"]] == [p["label"] for p in record["predictions"]]
            np.testing.assert_allclose([p["score"] for p in got[example_id]["predictions"]],
                                       [p["score"] for p in record["predictions"]], atol=1e-5)


def test_one_actor_pool_and_model_load_per_job_and_the_driver_reads_no_audio(tmp_path, fixture_datasets,
                                                                            ast_model, local_ray, monkeypatch):
    from audiosift.datasets.references import TableRow
    from audiosift.datasets.sources import Example
    from audiosift.distributed import ray_engine

    parquet = str(fixture_datasets["speech_commands"].parquet)
    sent, pools, real_map, real_init = [], [], ray_engine.ActorPool.map, ray_engine.ActorPool.__init__

    def counting_init(self, *args, **kwargs):
        pools.append(self)
        real_init(self, *args, **kwargs)

    def recording_map(self, method, batches):
        return real_map(self, method, (sent.append(batch) or batch for batch in batches))

    def no_audio_here(self):
        raise AssertionError(f"the driver read the audio of {self.id}")

    monkeypatch.setattr(ray_engine.ActorPool, "__init__", counting_init)
    monkeypatch.setattr(ray_engine.ActorPool, "map", recording_map)
    monkeypatch.setattr(Example, "audio_input", no_audio_here)  # the driver only: workers import their own
    result = evaluate(str(ast_model), parquet, tmp_path / "ray", engine="ray", batch_size=1, allow_unmapped=True)
    assert result.metrics["scored"] == 6 and result.metrics["failures"] == 0
    assert len(sent) == 6 and len(pools) == 1  # six batches, one pool for the whole job
    assert result.metrics["ray"] == {"actors": 1, "model_loads": 1}  # the model loaded once, not per batch
    examples = [example for batch in sent for _, example in batch]
    assert all(isinstance(e.audio, TableRow) for e in examples)  # references, never bytes
    assert max(len(pickle.dumps(batch)) for batch in sent) < 2000


def test_a_ray_run_stopped_half_way_resumes_to_the_local_engines_outputs(tmp_path, fixture_datasets, ast_model,
                                                                        local_ray):
    from audiosift.datasets import open_dataset

    parquet = str(fixture_datasets["speech_commands"].parquet)  # rows 0-5 classified, 6-9 unmapped
    common = dict(allow_unmapped=True, batch_size=1)
    local = evaluate(str(ast_model), parquet, tmp_path / "local", **common)
    opened = open_dataset(parquet)
    examples = list(opened.examples)

    def stopped():
        yield from examples[:7]
        raise KeyboardInterrupt

    opened.examples = stopped()
    with pytest.raises(KeyboardInterrupt):
        evaluate(str(ast_model), opened, tmp_path / "ray", engine="ray", **common)
    lines = (tmp_path / "ray" / "predictions.jsonl").read_text().splitlines()
    written, classified = len(lines), sum('"predictions"' in line for line in lines)
    assert 4 <= classified < 6 and written < 10  # streamed into the store as they came, not at the end
    resumed = evaluate(str(ast_model), parquet, tmp_path / "ray", engine="ray", **common)
    assert resumed.metrics["reused_from_earlier_runs"] == written
    assert resumed.metrics["processed_this_run"] == 6 - classified
    _same_records(records_by_id(tmp_path / "ray"), records_by_id(tmp_path / "local"))
    for key in ("n", "scored", "failures", "unmapped", "accuracy", "top5_accuracy", "macro_f1", "per_class"):
        assert resumed.metrics[key] == local.metrics[key], key
