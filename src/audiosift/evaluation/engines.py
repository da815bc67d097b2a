"""The engines that classify an evaluation's examples: in this process, or on a pool of Ray actors.

Both write each record into the :class:`~audiosift.evaluation.store.PredictionStore` as soon as
its example is done, so a run stopped half-way resumes the same way whichever engine ran it.

A failure is always one example's: an :class:`~audiosift.errors.AudiosiftError` (a clip that does
not decode...) is recorded by the classifier; any other exception that escapes it is pinned on
its clip by :func:`classify_isolated`, which re-runs the clips in flight one at a time, records
the error of the one that fails (``"retry": true``: it may be transient, so a resumed run tries
it again) and goes on with the rest. So a run never stops at the same example on every resume.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from audiosift.datasets.sources import Example
from audiosift.errors import AudiosiftError
from audiosift.evaluation.job import ClassificationJob, classify_stream, outcome

RAY_BATCHES_IN_FLIGHT_PER_ACTOR = 2  # one running, one queued: actors never wait for the driver


def error_outcome(error: BaseException) -> dict:
    """A record's ``error`` for an exception; one audiosift did not expect is marked for retry."""
    if isinstance(error, AudiosiftError):
        return {"error": str(error)}
    return {"error": f"{type(error).__name__}: {error}", "retry": True}


def classify_isolated(classifier, job: ClassificationJob,
                      examples: Iterable[Example]) -> Iterator[tuple[Example, dict]]:
    """``(example, outcome)`` for every example; one failing never stops the others (module doc)."""
    pending = iter(examples)
    while True:
        feed = _Feed(pending)
        try:
            for result in classify_stream(classifier, feed, job):
                yield from feed.unreadable()
                yield feed.take(result.index), outcome(result)
            yield from feed.unreadable()
            feed.raise_source_error()
            return
        except Exception:  # noqa: BLE001 - any error but the dataset's own is one example's
            feed.raise_source_error()
            stuck = feed.close()
            if not stuck and feed.position == 0:  # fails with no clip at all: not an example's fault
                raise
            for example in stuck:  # the clips in flight, one by one, to find the failing one
                yield example, classify_one(classifier, job, example)
            yield from feed.unreadable()


def classify_one(classifier, job: ClassificationJob, example: Example) -> dict:
    try:
        for result in classify_stream(classifier, [example.audio_input()], job):
            return outcome(result)
        return {"error": "the classifier returned no result for this clip", "retry": True}
    except Exception as error:  # noqa: BLE001 - recorded as this example's error
        return error_outcome(error)


class _Feed:
    """The classifier's input stream: remembers what is in flight; a clip that cannot even be read
    (a table row whose file went away) is set aside with its error instead of being fed."""

    def __init__(self, examples: Iterator[Example]):
        self.examples = examples
        self.in_flight: dict[int, Example] = {}
        self.failed: list[tuple[Example, dict]] = []
        self.source_error: BaseException | None = None
        self.closed = False
        self.lock = threading.Lock()  # a classifier may read its inputs from a thread
        self.position = 0

    def __iter__(self):
        while True:
            with self.lock:
                if self.closed:
                    return
                try:
                    example = next(self.examples)
                except StopIteration:
                    return
                except Exception as error:  # the dataset itself failed: not an example's error
                    self.source_error = error
                    return
                try:
                    audio = example.audio_input()
                except Exception as error:  # noqa: BLE001
                    self.failed.append((example, error_outcome(error)))
                    continue
                position, self.position = self.position, self.position + 1
                self.in_flight[position] = example
            yield audio

    def take(self, position: int) -> Example:
        with self.lock:
            return self.in_flight.pop(position)

    def unreadable(self) -> list[tuple[Example, dict]]:
        with self.lock:
            failed, self.failed = self.failed, []
        return failed

    def close(self) -> list[Example]:
        with self.lock:
            self.closed = True
            return [self.in_flight[p] for p in sorted(self.in_flight)]

    def raise_source_error(self) -> None:
        if self.source_error is not None:
            raise self.source_error


def run_local(classifier, job: ClassificationJob, todo: Iterator[Example], write: Callable) -> int:
    """Classify in this process; ``write(example, outcome)`` as each clip is done. Returns the count."""
    processed = 0
    for example, result in classify_isolated(classifier, job, todo):
        write(example, result)
        processed += 1
    return processed


class ClassifierWorker:
    """A Ray actor: loads the model once, classifies batches of ``(position, Example)``.

    The examples hold references (paths, table rows), so the worker reads its own audio.
    """

    def __init__(self, job: ClassificationJob):
        self.job = job
        self.classifier = job.load()
        self.name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"  # one per model load, reported with each batch

    def classify(self, batch: list[tuple[int, Example]]) -> tuple[str, list[tuple[int, dict]]]:
        positions = {id(example): position for position, example in batch}
        return self.name, [(positions[id(example)], result) for example, result
                           in classify_isolated(self.classifier, self.job, [e for _, e in batch])]


def run_on_ray(job: ClassificationJob, todo: Iterator[Example], write: Callable, *, address: str | None = None,
               actors: int = 1, gpus_per_actor: float = 0.0, stats: dict | None = None) -> int:
    """Classify on one Ray actor pool for the whole job; ``write`` each record as its batch returns."""
    from audiosift.distributed.ray_engine import ActorPool, ray_session

    in_flight: dict[int, Example] = {}

    def batches() -> Iterator[list[tuple[int, Example]]]:
        numbered = enumerate(todo)
        while batch := list(islice(numbered, job.batch_size)):
            in_flight.update(batch)
            yield batch

    processed = 0
    with ray_session(address):
        with ActorPool(ClassifierWorker, (job,), size=actors, num_cpus=1, num_gpus=gpus_per_actor,
                       in_flight_per_actor=RAY_BATCHES_IN_FLIGHT_PER_ACTOR) as pool:
            workers = set()  # the model loads that did the work: one per actor for the whole job
            for worker, results in pool.map("classify", batches()):
                workers.add(worker)
                for position, result in results:
                    write(in_flight.pop(position), result)
                    processed += 1
    if stats is not None:
        stats.update(actors=actors, model_loads=len(workers))
    return processed
