"""Micro-batching: concurrent requests to one model share a forward pass.

Each served model has one worker thread (so the model's work never runs on the event loop, and
one model never runs two forwards at once). Requests put a job on the worker's queue and await a
future. The worker takes the first job, then keeps collecting for up to ``max_wait_s`` or until it
holds ``max_batch_size`` jobs, groups the jobs by key (zero-shot requests with the same labels and
templates share a key; fixed-label classifiers use one key) and runs one ``run_batch`` per group.
While a forward runs, new jobs queue up and are collected at once by the next round, so under load
batches fill without waiting.

If a batched run fails, its jobs are run again one by one, so a job that breaks the model fails
alone and never takes the others with it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("audiosift.server")

_STOP = object()


@dataclass
class _Job:
    item: Any
    key: Hashable
    future: Future = field(default_factory=Future)


@dataclass
class BatchStats:
    """What the worker has done: the observable proof that requests were batched."""

    requests: int = 0  # requests scored
    failed_requests: int = 0  # requests whose forward failed even when run alone
    batches: int = 0  # run_batch calls (one per group per round), failed ones included
    failed_batches: int = 0
    batch_sizes: Counter = field(default_factory=Counter)  # batch size -> how many batches had it

    def as_dict(self) -> dict:
        return {
            "requests": self.requests,
            "failed_requests": self.failed_requests,
            "batches": self.batches,
            "failed_batches": self.failed_batches,
            "largest_batch": max(self.batch_sizes, default=0),
            "mean_batch_size": round(self.requests / sum(self.batch_sizes.values()), 3) if self.batch_sizes else 0.0,
            "batch_sizes": {str(size): count for size, count in sorted(self.batch_sizes.items())},
        }


class MicroBatcher:
    """Collects jobs for a few ms and runs them in batches on its own thread.

    ``run_batch(key, items)`` returns one result per item, in order.
    """

    def __init__(self, run_batch: Callable[[Hashable, list], Sequence], *, max_batch_size: int,
                 max_wait_s: float, name: str = "model"):
        self._run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.name = name
        self.stats = BatchStats()
        self._stats_lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=f"audiosift-batcher-{name}", daemon=True)
        self._thread.start()

    def submit(self, item: Any, key: Hashable = None) -> Future:
        """Queue one item; the future gets its result (or the exception its batch raised)."""
        if self._closed:
            raise RuntimeError(f"the batcher of model {self.name!r} is closed")
        job = _Job(item, key)
        self._queue.put(job)
        return job.future

    async def run(self, item: Any, key: Hashable = None) -> Any:
        """``submit`` for async code: awaits the result without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(item, key))

    def close(self, timeout: float | None = 30.0) -> None:
        """Finish the queued jobs, then stop the worker thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout)

    def stats_snapshot(self) -> dict:
        with self._stats_lock:
            return self.stats.as_dict()

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            jobs, stop = self._collect(first)
            groups: dict[Hashable, list[_Job]] = {}
            for job in jobs:
                groups.setdefault(job.key, []).append(job)
            for key, group in groups.items():
                self._run_group(key, group)
            if stop:
                return

    def _collect(self, first: _Job) -> tuple[list[_Job], bool]:
        jobs = [first]
        deadline = time.monotonic() + self.max_wait_s
        while len(jobs) < self.max_batch_size:
            try:  # jobs queued while the last batch ran are taken at once, without waiting
                job = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    job = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if job is _STOP:
                return jobs, True
            jobs.append(job)
        return jobs, False

    def _run_group(self, key: Hashable, group: list[_Job]) -> None:
        live = [job for job in group if job.future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            results = self._run_batch(key, [job.item for job in live])
        except Exception as error:  # noqa: BLE001 - reported to the requests, the worker goes on
            self._record(len(live), failed=True)
            if len(live) == 1:
                live[0].future.set_exception(error)
                return
            logger.warning("batch of %d for %s failed (%s); running its requests one by one",
                           len(live), self.name, error)
            for job in live:
                self._run_alone(key, job)
            return
        self._record(len(live))
        for job, result in zip(live, results):
            job.future.set_result(result)

    def _run_alone(self, key: Hashable, job: _Job) -> None:
        try:
            result = self._run_batch(key, [job.item])[0]
        except Exception as error:  # noqa: BLE001
            self._record(1, failed=True)
            job.future.set_exception(error)
            return
        self._record(1)
        job.future.set_result(result)

    def _record(self, size: int, failed: bool = False) -> None:
        with self._stats_lock:
            self.stats.batches += 1
            if failed:
                self.stats.failed_batches += 1
                self.stats.failed_requests += size == 1
            else:
                self.stats.requests += size
                self.stats.batch_sizes[size] += 1
