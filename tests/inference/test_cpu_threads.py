"""The engine's CPU side: batches run side by side with torch's threads split among them."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import audiosift
from audiosift.inference.cpu_threads import map_splitting_cores, single_threaded_blas
from audiosift.models.torch_threads import TORCH_THREADS


@pytest.fixture
def two_torch_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_items_run_side_by_side_in_order_with_one_thread_each(two_torch_threads):
    seen = []
    both_started = threading.Barrier(2, timeout=10)  # fails unless two items really run at once

    def work(item):
        both_started.wait()
        seen.append((threading.current_thread().name, torch.get_num_threads()))
        return item * 10

    assert map_splitting_cores(work, [1, 2, 3, 4], TORCH_THREADS) == [10, 20, 30, 40]
    assert {threads for _, threads in seen} == {1}
    assert len({name for name, _ in seen}) == 2
    assert torch.get_num_threads() == 2


def test_threads_started_afterwards_get_the_callers_count_back(two_torch_threads):
    map_splitting_cores(lambda item: item, [1, 2], TORCH_THREADS)
    counts = []
    later = threading.Thread(target=lambda: counts.append(torch.get_num_threads()))
    later.start()
    later.join()
    assert counts == [2]


def test_one_item_or_one_thread_runs_in_the_caller(two_torch_threads):
    caller = threading.current_thread().name
    assert map_splitting_cores(lambda item: threading.current_thread().name, ["x"], TORCH_THREADS) == [caller]
    torch.set_num_threads(1)
    assert map_splitting_cores(lambda item: threading.current_thread().name, ["x", "y"], TORCH_THREADS) == [caller, caller]


def test_an_items_error_reaches_the_caller_and_the_count_is_restored(two_torch_threads):
    def work(item):
        if item == 2:
            raise ValueError("bad item 2")
        return item

    with pytest.raises(ValueError, match="bad item 2"):
        map_splitting_cores(work, [1, 2, 3], TORCH_THREADS)
    assert torch.get_num_threads() == 2


def test_split_batches_give_the_same_scores_as_one_thread(ast_model, two_torch_threads):
    clf = audiosift.load(str(ast_model), device="cpu", batch_size=2)
    rng = np.random.default_rng(5)
    clips = [rng.normal(0, 0.1, 16000).astype(np.float32) for _ in range(7)]
    split = clf.scores(clips)
    torch.set_num_threads(1)  # one thread: batches run one after another in the caller
    serial = clf.scores(clips)
    np.testing.assert_allclose(split, serial, atol=1e-6)


def blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_blas_limit_overlapping_in_two_threads_is_restored_by_the_last_one_out():
    before = blas_threads()
    assert before and max(before) > 1, "this test needs numpy's BLAS on 2+ threads (a machine with 2+ cores)"
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    inside = []

    def first():
        with single_threaded_blas():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second():
        first_in.wait(10)
        with single_threaded_blas():
            second_in.set()
            first_out.wait(10)
            inside.append(blas_threads())  # the first user left; the limit must hold

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert inside and set(inside[0]) == {1}
    assert blas_threads() == before


@pytest.mark.parametrize("ahead", [False, True])
def test_featurized_ahead_keeps_batch_order(ahead):
    from audiosift.inference.cpu_threads import FEATURIZE_THREADS, featurized_ahead

    names = []

    def featurize(item):
        names.append(threading.current_thread().name)
        return item * item

    batches = [[3, 1], [4], [1, 5, 9, 2]]
    assert list(featurized_ahead(featurize, batches, TORCH_THREADS, ahead=ahead)) == [[9, 1], [16], [1, 25, 81, 4]]
    caller = threading.current_thread().name
    if ahead:
        assert caller not in names and 1 <= len(set(names)) <= FEATURIZE_THREADS
    else:
        assert set(names) == {caller}


def test_featurized_ahead_passes_an_items_error_to_the_caller():
    from audiosift.inference.cpu_threads import featurized_ahead

    def featurize(item):
        if item == "bad":
            raise ValueError("cannot featurize 'bad'")
        return item

    ahead = featurized_ahead(featurize, [["a"], ["bad"], ["c"]], TORCH_THREADS, ahead=True)
    assert next(ahead) == ["a"]
    with pytest.raises(ValueError, match="cannot featurize"):
        next(ahead)


def test_accelerator_path_scores_each_clip_in_its_row():
    """On a GPU the engine featurizes ahead on CPU threads; a stand-in backend checks the bookkeeping."""
    from audiosift.inference.engine import score_waveforms
    from audiosift.models.base import ClipBackend

    class Accelerated(ClipBackend):
        labels = ["low", "high"]
        sampling_rate = 16000
        device = "gpu-stand-in"  # anything but cpu takes the accelerator path
        featurize_ahead = True

        def featurize(self, waveform):
            return float(waveform.mean())

        def collate(self, features):
            return [(list(range(len(features))), np.array(features))]

        def forward(self, batch):
            high = 1 / (1 + np.exp(-batch))
            return np.stack([1 - high, high], axis=1)

    waveforms = [np.full(100 + 10 * i, value, np.float32) for i, value in enumerate([-2, 3, 0, 1, -1, 5, 2])]
    scores = score_waveforms(Accelerated(), waveforms, batch_size=3)
    means = np.array([w.mean() for w in waveforms])
    np.testing.assert_allclose(scores[:, 1], 1 / (1 + np.exp(-means)), rtol=1e-6)


def test_only_costly_featurizers_are_made_ahead(whisper_model, ast_model, wav2vec2_model):
    assert audiosift.load(str(whisper_model), device="cpu").backend.featurize_ahead
    assert not audiosift.load(str(ast_model), device="cpu").backend.featurize_ahead
    assert not audiosift.load(str(wav2vec2_model), device="cpu").backend.featurize_ahead


def test_items_left_after_the_last_whole_round_get_every_thread(two_torch_threads):
    """3 items on 2 threads: two side by side on one thread each, then the third on both threads."""
    seen = {}

    def work(item):
        seen[item] = torch.get_num_threads()
        return item

    assert map_splitting_cores(work, [1, 2, 3], TORCH_THREADS) == [1, 2, 3]
    assert seen == {1: 1, 2: 1, 3: 2}
