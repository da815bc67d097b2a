"""Sharing a CPU's cores between numpy, torch and several batches.

Two measured facts drive this module (2 cores, fp32):
- numpy's BLAS (OpenBLAS) threads fight torch's intra-op threads for the same cores: featurizing
  with BLAS on all cores made one clip ~30% slower. So features are made with BLAS on one thread.
- Small matrix products (a Swin transformer's 64-token windows, AST's 146 patches) do not spread well
  over cores, but whole batches do: two batches side by side on one torch thread each beat one batch
  on two threads (CLAP's audio tower 0.118-0.122 s a window vs 0.132-0.151 s).

Both settings are process-wide or leak into other threads, so this module changes them in a way that
concurrent callers (a server runs one batching thread per model) cannot leave behind:
- the BLAS limit is reference-counted: the first caller in sets it, the last one out restores it;
- ``torch.set_num_threads`` acts per OS thread (OpenMP), but it also sets the count that threads
  started later begin with. So the worker threads are made once per (workers, threads each) split,
  set their own count, and the caller's count is put back at once; they are reused afterwards.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from audiosift.models.base import ThreadControl

T = TypeVar("T")
R = TypeVar("R")

_blas_lock = threading.Lock()
_blas_users = 0
_blas_limiter = None
_controller = None
_controller_modules = 0
_pools: dict[tuple[str, int, int], concurrent.futures.ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _threadpool_controller():
    """threadpoolctl's view of the loaded libraries, re-read only after new modules were imported
    (one that loads another BLAS, as scipy does, would otherwise go unlimited; a read takes ~3 ms)."""
    global _controller, _controller_modules
    if _controller is None or _controller_modules != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        _controller, _controller_modules = ThreadpoolController(), len(sys.modules)
    return _controller


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """numpy's BLAS limited to one thread inside; the setting is restored when the last user leaves."""
    global _blas_users, _blas_limiter
    with _blas_lock:
        if _blas_users == 0:
            with _any_thread_may_set_blas():
                _blas_limiter = _threadpool_controller().limit(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                with _any_thread_may_set_blas():  # the last one out may not be the thread that set it
                    _blas_limiter.restore_original_limits()
                _blas_limiter = None


@contextlib.contextmanager
def _any_thread_may_set_blas() -> Iterator[None]:
    """threadpoolctl (3.6+) lets only the first thread that set OpenBLAS's (process-wide) thread count
    change it again, silently ignoring the others; this module serialises its own changes instead."""
    import threadpoolctl

    release = getattr(getattr(threadpoolctl, "OpenBLASController", None), "clear_controlling_thread", None)
    if release:
        release(force=True)
    try:
        yield
    finally:
        if release:
            release(force=True)


def map_splitting_cores(function: Callable[[T], R], items: Sequence[T], threads: ThreadControl) -> list[R]:
    """``[function(item) for item in items]`` with the caller's runtime threads split among items.

    With ``n`` threads (``threads.get()``, the backend's runtime) and ``k`` items, ``min(n, k)``
    workers run items side by side, each on ``n // workers`` threads, with numpy's BLAS on one
    thread. Items left over from the last whole round (``k % workers``) are split again among all
    ``n`` threads, so no core idles at the end: 3 Whisper clips on 2 cores ran their last clip on one
    thread beside an idle core (0.77x the pipeline; 2+1 on both cores is the pipeline's own pace).
    One item, or one thread: the items run in the calling thread. ``function`` must be safe to call
    from several threads at once.
    """
    caller_threads = threads.get()
    workers = min(caller_threads, len(items))
    if workers <= 1:
        return [function(item) for item in items]
    whole_rounds = len(items) - len(items) % workers
    pool = _worker_pool(workers, caller_threads // workers, threads)
    with single_threaded_blas():
        results = list(pool.map(function, items[:whole_rounds]))
    return results + map_splitting_cores(function, items[whole_rounds:], threads)


def featurize_batch(featurize: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[featurize(item) for item in items]`` here, with numpy's BLAS on one thread."""
    with single_threaded_blas():
        return [featurize(item) for item in items]


# Threads that featurize ahead of an accelerator (one torch thread each). Feature extraction is
# numpy/torch work that mostly releases the GIL; 8 threads keep a GPU fed without taking a big machine.
FEATURIZE_THREADS = max(1, min(8, os.cpu_count() or 1))


def featurized_ahead(featurize: Callable[[T], R], batches: Sequence[Sequence[T]], threads: ThreadControl, *,
                     ahead: bool = True) -> Iterator[list[R]]:
    """Each batch's features, in order, for GPU/MPS runs (on a CPU the cores are busy with the model:
    see :func:`map_splitting_cores`).

    ``ahead``: CPU threads make the features ahead of use, so while the accelerator runs one batch
    the next ones are made, each batch's items in parallel. That pays only for costly features that
    release the GIL. Measured on an H100 machine (16 cores, 64 clips, three runs): CLAP's 10 s
    log-mel ran 3.3x faster ahead and Whisper's 30 s one 1.1-1.3x, but AST's fbank (many small
    torch calls) ran 0.78-0.87x of inline: the threads hold the GIL the kernel launches need.
    ``ahead=False`` makes each batch's features here, just before it is used.
    """
    if not ahead:
        for batch in batches:
            yield featurize_batch(featurize, batch)
        return
    pool = _worker_pool(FEATURIZE_THREADS, 1, threads)
    with single_threaded_blas():
        futures = [[pool.submit(featurize, item) for item in batch] for batch in batches]
        try:
            for batch_futures in futures:
                yield [future.result() for future in batch_futures]
        finally:
            for batch_futures in futures:  # the caller stopped early (an error): drop what is queued
                for future in batch_futures:
                    future.cancel()


def _worker_pool(workers: int, threads_each: int, threads: ThreadControl) -> concurrent.futures.ThreadPoolExecutor:
    """The (lasting) pool of ``workers`` threads that run the runtime on ``threads_each`` threads each."""
    key = (threads.name, workers, threads_each)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            all_set = threading.Barrier(workers + 1)

            def set_thread_count():
                threads.set(threads_each)
                all_set.wait()

            caller_threads = threads.get()
            pool = concurrent.futures.ThreadPoolExecutor(
                workers, thread_name_prefix=f"audiosift-{threads.name}{workers}x{threads_each}",
                initializer=set_thread_count)
            for _ in range(workers):  # each worker blocks in the barrier, so every submit starts a new one
                pool.submit(int)
            all_set.wait()
            threads.set(caller_threads)  # threads started from now on begin with this count
            _pools[key] = pool
        return pool
