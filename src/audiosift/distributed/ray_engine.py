"""Ray plumbing: a session that stays offline, and one long-lived actor pool fed a stream of batches.

Nothing here knows about evaluation (``audiosift.evaluation`` uses it, never the other way round):
:class:`ActorPool` starts ``size`` actors of any worker class once (so a model is loaded once per
actor for the whole job, however many examples), sends them batches as a lazy iterator yields
them, keeps at most ``in_flight_per_actor`` batches queued per actor (the driver's memory stays
bounded, and a stream is never read ahead), and yields each result as soon as it is done.

Imported only when the Ray engine is used: plain ``audiosift`` never imports ray.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def ray_session(address: str | None = None) -> Iterator[Any]:
    """The running Ray (left running), or one started here (with ``address``) and shut down after."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never phone home unless the user opts in
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False)
    try:
        yield ray
    finally:
        if started_here:
            ray.shutdown()


class ActorPool:
    """``size`` actors of ``worker_class(*args)``, created once; :meth:`map` streams batches through them."""

    def __init__(self, worker_class: type, args: tuple = (), *, size: int = 1, num_cpus: float = 1,
                 num_gpus: float = 0.0, in_flight_per_actor: int = 2):
        import ray

        self._ray = ray
        remote = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus or None)(worker_class)
        self.actors = [remote.remote(*args) for _ in range(size)]
        self.in_flight_per_actor = max(1, in_flight_per_actor)

    def map(self, method: str, batches: Iterable[Any]) -> Iterator[Any]:
        """``actor.method(batch)`` for every batch, results yielded as they finish (any order)."""
        ray = self._ray
        free = [actor for actor in self.actors for _ in range(self.in_flight_per_actor)]
        running: dict[Any, Any] = {}  # ObjectRef -> the actor running it
        batches = iter(batches)
        exhausted = False
        while True:
            while free and not exhausted:
                batch = next(batches, None)
                if batch is None:
                    exhausted = True
                    break
                actor = free.pop()
                running[getattr(actor, method).remote(batch)] = actor
            if not running:
                return
            done, _ = ray.wait(list(running), num_returns=1)
            free.append(running.pop(done[0]))
            yield ray.get(done[0])

    def close(self) -> None:
        """Stop the actors now: a Ray that outlives the job gets its CPUs/GPUs back."""
        for actor in self.actors:
            self._ray.kill(actor)
        self.actors = []

    def __enter__(self) -> ActorPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
