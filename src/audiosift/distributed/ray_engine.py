"""``evaluate --engine ray``: the same job on Ray Data, with the model held by actors.

The driver (this process) reads the dataset, skips examples already in ``predictions.jsonl``, and
sends the rest to Ray in chunks: ``ray.data.from_items`` -> ``map_batches`` with a pool of
:class:`ClassifierActor` (each loads the model once, via ``ActorPoolStrategy``) -> rows back to the
driver, which writes each record as it arrives. So the outputs and the resume behaviour are exactly
the local engine's.

Audio travels as encoded bytes (files are read on the driver), so workers on other machines need
neither the dataset nor shared storage; they need audiosift and the model (hub cache or path).

Imported only when ``engine="ray"``: plain ``audiosift`` never imports ray.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from audiosift.datasets.sources import Example
from audiosift.evaluation.job import ClassificationJob, classify_stream, outcome

# Examples handed to Ray per dataset execution. Each execution starts the actor pool (one model load
# per actor), so chunks are large; they are also capped in bytes so the driver's memory stays bounded.
CHUNK_EXAMPLES = 2048
CHUNK_BYTES = 256 * 1024 * 1024


class ClassifierActor:
    """Ray Data ``map_batches`` callable: loads the model once, classifies batches of encoded audio."""

    def __init__(self, job: ClassificationJob):
        self.job = job
        self.classifier = job.load()

    def __call__(self, batch: dict) -> dict:
        references = [{"path": path, "bytes": data} if data is not None else {"path": path}
                      for path, data in zip(batch["path"], batch["audio_bytes"])]
        results = list(classify_stream(self.classifier, references, self.job))
        import numpy as np

        return {"position": np.asarray(batch["position"]),
                "outcome": np.array([json.dumps(outcome(r)) for r in results], dtype=object)}


def run_on_ray(job: ClassificationJob, examples: Iterable[Example], store, *, address: str | None = None,
               actors: int = 1, gpus_per_actor: float = 0.0, progress: bool = False) -> int:
    """Classify ``examples`` on Ray and append each record to ``store``; returns how many were classified."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never phone home unless the user opts in
    import ray
    import ray.data

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress
        processed = 0
        for chunk in _chunks(examples):
            processed += _run_chunk(chunk, job, store, actors, gpus_per_actor)
        return processed
    finally:
        if started_here:
            ray.shutdown()


def _run_chunk(chunk: list[Example], job: ClassificationJob, store, actors: int, gpus_per_actor: float) -> int:
    import ray.data

    items = [_item(position, example) for position, example in enumerate(chunk)]
    dataset = ray.data.from_items(items).map_batches(
        ClassifierActor, fn_constructor_kwargs={"job": job}, batch_size=job.batch_size, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=1, num_gpus=gpus_per_actor or None)
    written = 0
    for row in dataset.iter_rows():
        example = chunk[int(row["position"])]
        store.append({"id": example.id, "index": example.index, "path": example.path, "label": example.label}
                     | json.loads(row["outcome"]))
        written += 1
    return written


def _item(position: int, example: Example) -> dict:
    """A Ray row: the position in the chunk and the clip as encoded bytes (None: let the worker report why)."""
    audio = example.audio
    if isinstance(audio, dict):
        return {"position": position, "path": str(audio.get("path") or example.path or ""),
                "audio_bytes": audio.get("bytes")}
    path = Path(audio)
    try:
        data = path.read_bytes() if path.is_file() else None
    except OSError:
        data = None  # the worker's decoder then says what is wrong (missing, unreadable) in the record
    return {"position": position, "path": str(path), "audio_bytes": data}


def _chunks(examples: Iterable[Example]) -> Iterator[list[Example]]:
    chunk: list[Example] = []
    size = 0
    for example in examples:
        chunk.append(example)
        audio = example.audio
        size += len(audio.get("bytes") or b"") if isinstance(audio, dict) else _file_size(audio)
        if len(chunk) >= CHUNK_EXAMPLES or size >= CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _file_size(path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
