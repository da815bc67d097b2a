"""Micro-batching: concurrent requests share forwards, results equal the unbatched ones, failures stay isolated."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
from server_helpers import app_for, run_async, stats_of

from audiosift.server.batching import MicroBatcher

RESULT_TIMEOUT_S = 30  # generous: a broken batcher fails the test instead of hanging it


class GatedRun:
    """A ``run_batch`` that records its calls and holds the first one until released, so jobs
    queue up behind it deterministically."""

    def __init__(self, fail_on=None):
        self.calls: list[tuple] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail_on = fail_on

    def __call__(self, key, items):
        self.calls.append((key, list(items)))
        self.started.set()
        self.release.wait(RESULT_TIMEOUT_S)
        if self.fail_on is not None and self.fail_on in items:
            raise RuntimeError(f"cannot score {self.fail_on!r}")
        return [f"{key}:{item}" for item in items]


def gated_batcher(run, **options):
    options = {"max_batch_size": 3, "max_wait_s": 0.0, **options}
    return MicroBatcher(run, name="test", **options)


def test_jobs_queued_during_a_forward_run_together_up_to_the_batch_size():
    run = GatedRun()
    batcher = gated_batcher(run)
    try:
        futures = [batcher.submit(0)]
        assert run.started.wait(RESULT_TIMEOUT_S)
        futures += [batcher.submit(i) for i in range(1, 8)]
        run.release.set()
        assert [f.result(RESULT_TIMEOUT_S) for f in futures] == [f"None:{i}" for i in range(8)]
    finally:
        batcher.close()
    assert [items for _, items in run.calls] == [[0], [1, 2, 3], [4, 5, 6], [7]]
    stats = batcher.stats_snapshot()
    assert stats["requests"] == 8 and stats["batches"] == 4 and stats["largest_batch"] == 3
    assert stats["batch_sizes"] == {"1": 2, "3": 2}


def test_waits_for_more_jobs_until_the_batch_is_full():
    run = GatedRun()
    run.release.set()
    batcher = gated_batcher(run, max_batch_size=4, max_wait_s=RESULT_TIMEOUT_S)
    try:
        futures = [batcher.submit(i) for i in range(4)]
        assert [f.result(RESULT_TIMEOUT_S) for f in futures] == [f"None:{i}" for i in range(4)]
    finally:
        batcher.close()
    assert [items for _, items in run.calls] == [[0, 1, 2, 3]]


def test_jobs_are_grouped_by_key():
    run = GatedRun()
    batcher = gated_batcher(run, max_batch_size=8)
    try:
        first = batcher.submit("x", key="a")
        assert run.started.wait(RESULT_TIMEOUT_S)
        futures = [batcher.submit(item, key=key) for item, key in [(1, "a"), (2, "b"), (3, "a"), (4, "b")]]
        run.release.set()
        assert first.result(RESULT_TIMEOUT_S) == "a:x"
        assert [f.result(RESULT_TIMEOUT_S) for f in futures] == ["a:1", "b:2", "a:3", "b:4"]
    finally:
        batcher.close()
    assert run.calls[1:] == [("a", [1, 3]), ("b", [2, 4])]


def test_a_failing_job_fails_alone():
    run = GatedRun(fail_on="poison")
    batcher = gated_batcher(run, max_batch_size=8)
    try:
        first = batcher.submit("first")
        assert run.started.wait(RESULT_TIMEOUT_S)
        futures = {item: batcher.submit(item) for item in ["a", "poison", "b"]}
        run.release.set()
        assert first.result(RESULT_TIMEOUT_S) == "None:first"
        assert futures["a"].result(RESULT_TIMEOUT_S) == "None:a"
        assert futures["b"].result(RESULT_TIMEOUT_S) == "None:b"
        with pytest.raises(RuntimeError, match="cannot score 'poison'"):
            futures["poison"].result(RESULT_TIMEOUT_S)
        assert batcher.submit("after").result(RESULT_TIMEOUT_S) == "None:after"  # the worker goes on
    finally:
        batcher.close()
    stats = batcher.stats_snapshot()
    assert stats["failed_batches"] == 2  # the batch of three, then "poison" alone
    assert stats["requests"] == 4 and stats["failed_requests"] == 1


def test_close_finishes_queued_jobs_then_refuses_new_ones():
    run = GatedRun()
    batcher = gated_batcher(run)
    futures = [batcher.submit(0)]
    assert run.started.wait(RESULT_TIMEOUT_S)
    futures += [batcher.submit(i) for i in (1, 2)]
    closer = threading.Thread(target=batcher.close)
    closer.start()
    run.release.set()
    closer.join(RESULT_TIMEOUT_S)
    assert [f.result(0) for f in futures] == ["None:0", "None:1", "None:2"]
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit(3)


def post_all(url_and_bodies):
    async def send(client):
        return await asyncio.gather(*[client.post(url, content=body, headers={"content-type": "audio/wav"})
                                      for url, body in url_and_bodies])
    return send


CLIPS = ["yes.wav", "tone.wav", "noise.wav", "sentence.wav", "yes_8k.wav", "yes.flac", "yes.ogg", "yes.mp3"]


def test_concurrent_classify_requests_are_batched_and_match_unbatched(keywords_clf, audio_dir):
    bodies = [(audio_dir / name).read_bytes() for name in CLIPS]
    with app_for({"kw": keywords_clf}, batch_wait_ms=500, max_batch_size=8) as app:
        responses = run_async(post_all([("/v1/classify?model=kw&top_k=1000", b) for b in bodies]), app)
        stats = stats_of(app, "kw")
    assert [r.status_code for r in responses] == [200] * len(CLIPS)
    assert stats["requests"] == len(CLIPS)
    assert stats["largest_batch"] >= 2 and stats["batches"] < len(CLIPS)
    for body, response in zip(bodies, responses):
        alone = keywords_clf.scores([keywords_clf.prepare(body)])[0]  # one clip, one forward
        got = {p["label"]: p["score"] for p in response.json()["predictions"]}
        np.testing.assert_allclose([got[label] for label in keywords_clf.labels], alone, atol=1e-5)


def test_zero_shot_requests_with_different_labels_share_the_audio_forward(sounds_clf, audio_dir):
    label_sets = [["dog", "rain"], ["speech", "siren", "dog"], ["dog", "rain"], ["clock tick", "engine"]]
    clips = CLIPS[: len(label_sets)]
    requests = [(f"/v1/zero-shot?model=sounds&labels={','.join(labels)}", (audio_dir / clip).read_bytes())
                for labels, clip in zip(label_sets, clips)]
    with app_for({"sounds": sounds_clf}, batch_wait_ms=500, max_batch_size=8) as app:
        responses = run_async(post_all(requests), app)
        stats = stats_of(app, "sounds")
    assert [r.status_code for r in responses] == [200] * len(clips)
    assert stats["largest_batch"] >= 2 and stats["batches"] < len(clips)
    for labels, clip, response in zip(label_sets, clips, responses):
        expected = {p["label"]: p["score"] for p in sounds_clf(audio_dir / clip, candidate_labels=labels)}
        got = {p["label"]: p["score"] for p in response.json()["predictions"]}
        assert set(got) == set(labels)
        np.testing.assert_allclose([got[label] for label in labels], [expected[label] for label in labels], atol=1e-5)


class BrokenOnLongClips:
    """The keywords classifier, except that its forward fails on clips over 1.5 s (a stand-in for a model bug).

    (The model keeps at most 1.5 x its 1.3 s window of a clip: sentence.wav reaches it as 1.9 s.)"""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def scores(self, waveforms, batch_size=None):
        if any(len(w) > 1.5 * self.inner.sampling_rate for w in waveforms):
            raise RuntimeError("this model breaks on long clips")
        return self.inner.scores(waveforms, batch_size=batch_size)


def test_a_request_that_breaks_the_model_gets_500_and_the_others_succeed(keywords_clf, audio_dir):
    names = ["yes.wav", "sentence.wav", "tone.wav", "noise.wav"]  # sentence.wav is the long one
    bodies = [(audio_dir / name).read_bytes() for name in names]
    with app_for({"kw": BrokenOnLongClips(keywords_clf)}, batch_wait_ms=500) as app:
        responses = run_async(post_all([("/v1/classify", b) for b in bodies]), app)
        later = run_async(post_all([("/v1/classify", bodies[0])]), app)[0]
        stats = stats_of(app, "kw")
    assert [r.status_code for r in responses] == [200, 500, 200, 200]
    assert "internal server error" in responses[1].json()["error"]
    assert later.status_code == 200
    assert stats["failed_batches"] >= 1
