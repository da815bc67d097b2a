"""``evaluate``: run a model over a dataset, write predictions as they come, then measure them.

A run writes into one output folder:
- ``predictions.jsonl``: one record per example (``id``, ``index``, ``path``, ``label``, and
  ``predictions`` (top 5) or ``error``, or ``unmapped: true`` for labels left out of scoring);
- ``metrics.json``, ``confusion.csv``, ``confusion.png`` and ``report.md`` at the end;
- ``run.json`` (what is evaluated, the model's files and labels included) so a run stopped by
  Ctrl-C or a kill resumes when started again with the same arguments and folder: an example is
  skipped only if its record's ``key`` (:func:`record_key`: the clip's content fingerprint, its
  label, the model) still matches, and the metrics cover every example once (the latest record).

The local engine (the default) classifies in this process; ``engine="ray"`` streams the examples
through one pool of Ray actors (:mod:`audiosift.evaluation.engines`, Ray imported only then) and
writes the same files.
"""

from __future__ import annotations

import dataclasses

import hashlib
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiosift.datasets.sources import DatasetOptions, Example, OpenedDataset, open_dataset
from audiosift.errors import DatasetError, UsageError
from audiosift.evaluation import report
from audiosift.datasets.references import fingerprint
from audiosift.evaluation.engines import run_local
from audiosift.evaluation.job import ClassificationJob
from audiosift.evaluation.labels import LabelMapper, read_label_map
from audiosift.evaluation.metrics import classification_metrics, scored_arrays, worst_confusions
from audiosift.evaluation.provenance import provenance
from audiosift.evaluation.store import (
    PREDICTIONS_FILE,
    OutputLock,
    PredictionStore,
    check_run_identity,
    records_for,
)
from audiosift.inference.options import RuntimeOptions

ENGINES = ("local", "ray")
OUTPUT_FILES = {"predictions": PREDICTIONS_FILE, "metrics": "metrics.json", "confusion_csv": "confusion.csv",
                "confusion_png": "confusion.png", "report": "report.md"}


@dataclass(frozen=True)
class EvaluationOptions:
    """Everything about a run except the dataset selection; checked here, once."""

    output: str
    label_map: str | None = None  # JSON or CSV file: dataset label -> model label
    allow_unmapped: bool = False  # count labels without a model label as "unmapped" instead of failing
    templates: tuple[str, ...] | None = None  # zero-shot prompt template(s), e.g. ("This is a sound of {}.",)
    batch_size: int = 8
    device: str = "auto"
    dtype: str = "float32"
    revision: str | None = None  # hub revision of the model
    engine: str = "local"
    ray_address: str | None = None  # an existing Ray cluster ("auto", "ray://host:10001"); None: local Ray
    ray_actors: int = 1  # model replicas (Ray actors), each holding one copy of the model
    ray_gpus_per_actor: float = 0.0
    overwrite: bool = False  # drop an earlier run's predictions in `output` instead of resuming
    progress: bool | None = False  # progress bar on stderr (None: when stderr is a terminal)
    command: str | None = None  # the command line that started the run, for the provenance (CLI: argv)

    def __post_init__(self):
        if not self.output:
            raise UsageError("output: a folder for the predictions, metrics and report is required")
        if self.engine not in ENGINES:
            raise UsageError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        for name in ("batch_size", "ray_actors"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UsageError(f"{name} must be a positive integer, got {value!r}")
        if self.ray_gpus_per_actor < 0:
            raise UsageError(f"ray_gpus_per_actor must be >= 0, got {self.ray_gpus_per_actor!r}")
        self.runtime  # device, dtype, batch size: checked where every command checks them
        if self.templates is not None and (isinstance(self.templates, str) or not self.templates):
            raise UsageError(f"templates must be a non-empty tuple of strings, got {self.templates!r}")
        if self.engine == "local" and (self.ray_address or self.ray_actors != 1 or self.ray_gpus_per_actor):
            raise UsageError("ray_address / ray_actors / ray_gpus_per_actor need engine='ray'")


    @property
    def runtime(self) -> RuntimeOptions:
        return RuntimeOptions(device=self.device, dtype=self.dtype, batch_size=self.batch_size, revision=self.revision)


@dataclass
class EvaluationResult:
    metrics: dict
    output: Path
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def accuracy(self) -> float | None:
        return self.metrics["accuracy"]


def evaluate(model: Any, dataset: str | OpenedDataset, output: str, *, config: str | None = None,
             split: str | None = None, label_column: str | None = None, audio_column: str | None = None,
             streaming: bool = False, where: Any = None, limit: int | None = None, shuffle: bool = False,
             seed: int = 0, dataset_revision: str | None = None, cache_dir: str | None = None,
             **options) -> EvaluationResult:
    """Evaluate ``model`` (a name/path for ``audiosift.load``, or a loaded classifier) on ``dataset``.

    ``dataset`` is anything :func:`audiosift.datasets.open_dataset` opens, or an already opened
    one (then the dataset keywords, ``where`` to ``cache_dir``, must be left out: they apply when
    opening). ``where`` keeps the rows whose columns hold the values given, before ``shuffle`` and
    ``limit``: ``where={"fold": 1}``, ``where=["fold=1,2", "esc10=true"]``. Other keywords are
    :class:`EvaluationOptions` fields (``label_map``, ``allow_unmapped``, ``templates``,
    ``batch_size``, ``engine``, ``ray_address``, ``overwrite``, ...).

    >>> result = evaluate("keywords", "speech_commands", "runs/ast", config="v0.02", split="test",
    ...                   streaming=True, allow_unmapped=True)          # doctest: +SKIP
    >>> result.metrics["accuracy"]                                      # doctest: +SKIP
    """
    if isinstance(options.get("templates"), (list, str)):
        value = options["templates"]
        options["templates"] = (value,) if isinstance(value, str) else tuple(value)
    selection = DatasetOptions(config=config, split=split, label_column=label_column, audio_column=audio_column,
                               streaming=streaming, where=where, limit=limit, shuffle=shuffle, seed=seed,
                               revision=dataset_revision, cache_dir=cache_dir)
    return run_evaluation(model, dataset, selection, EvaluationOptions(output=str(output), **options))


def run_evaluation(model: Any, dataset: str | OpenedDataset, selection: DatasetOptions,
                   options: EvaluationOptions) -> EvaluationResult:
    if isinstance(dataset, OpenedDataset) and selection != DatasetOptions(cache_dir=selection.cache_dir):
        raise UsageError("dataset options (config, split, where, limit, shuffle, ...) apply when a dataset is "
                         "opened: pass them to open_dataset, or pass the dataset's name instead of an opened one")
    folder = Path(options.output).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    with OutputLock(folder):
        started = time.perf_counter()
        opened = dataset if isinstance(dataset, OpenedDataset) else open_dataset(dataset, selection)
        classifier = _load(model, options)
        label_map = read_label_map(options.label_map) if options.label_map else {}
        job = _job(model, classifier, opened, label_map, options)
        mapper = LabelMapper(job.candidate_labels or classifier.labels, label_map, options.allow_unmapped)
        if opened.label_names is not None:
            mapper.check(opened.label_names)  # every unmapped label listed up front, before any work
        identity = _identity(job, opened, selection, model, classifier)
        check_run_identity(folder, identity, options.overwrite)
        store = PredictionStore(folder / PREDICTIONS_FILE, fsync_every=options.batch_size)
        store.open()
        plan = _Plan(store, mapper, _digest(identity))
        with store:
            todo = plan.to_classify(_with_progress(opened, options.progress))
            classifying = time.perf_counter()
            processed = _run_engine(classifier, job, todo, plan.write, options, plan.ray_stats)
            store.compact(plan.ids)  # complete: one record per example of this run, stale ones gone
        timing = {"started": started, "classifying": classifying, "done": time.perf_counter()}
        origin = provenance(model=model, classifier=classifier, files_fingerprint=identity["model_files"],
                            revision=options.revision, opened=opened, selection=selection.selection(),
                            command=options.command, engine=options.engine, dtype=options.dtype)
        return _finish(folder, store, plan, job, opened, options, processed, timing, origin)


def _load(model: Any, options: EvaluationOptions):
    if not isinstance(model, str):
        if options.engine == "ray":
            raise UsageError("engine='ray' needs the model as a name or path (each Ray actor loads its own copy)")
        return model
    import audiosift

    # With Ray the driver loads the model too, for its labels (and zero-shot-ness) up front.
    runtime = options.runtime
    if options.engine == "ray":
        runtime = dataclasses.replace(runtime, device="cpu")
    return audiosift.load(model, options=runtime)


def _job(model: Any, classifier: Any, opened: OpenedDataset, label_map: dict, options: EvaluationOptions):
    name = model if isinstance(model, str) else getattr(classifier, "name", type(classifier).__name__)
    candidates, templates = None, options.templates
    if classifier.takes_labels:
        from audiosift.inference.zero_shot import resolve_templates

        candidates = zero_shot_candidates(opened, label_map)
        if templates:  # checked, and a named set ("ensemble") expanded, before anything is written
            templates = resolve_templates(templates[0] if len(templates) == 1 else list(templates))
    elif options.templates:
        raise UsageError("templates apply to zero-shot (CLAP) models only; this model has fixed labels")
    return ClassificationJob(model=str(name), runtime=options.runtime,
                             candidate_labels=candidates, templates=templates)


def zero_shot_candidates(opened: OpenedDataset, label_map: dict) -> tuple[str, ...]:
    """The dataset's label names as candidate texts: ``sea_waves`` -> ``sea waves``.

    A label-map entry gives the text for a label (``{"dog": "a dog barking"}``); ``null`` leaves it out.
    """
    if not opened.label_names:
        raise DatasetError(f"{opened.name}: zero-shot evaluation needs the dataset's label names up front, and "
                           f"they are unknown for a stream whose label column is not a ClassLabel; drop "
                           f"--streaming (or use a manifest or class folders)")
    texts = []
    for label in opened.label_names:
        if label in label_map:
            if label_map[label] is not None:
                texts.append(label_map[label])
        else:
            texts.append(" ".join(label.replace("_", " ").split()))
    if not texts:
        raise DatasetError(f"{opened.name}: the label map leaves out every label: no candidate labels to score")
    return tuple(dict.fromkeys(texts))


def _identity(job: ClassificationJob, opened: OpenedDataset, selection: DatasetOptions, model: Any,
              classifier: Any) -> dict:
    """What must not change between a run and its resumption (batch size, engine etc. may).

    The model is known by its name and revision, the stamp of its local files (a model retrained
    into the same folder is another model) and its label set.
    """
    labels = job.candidate_labels or getattr(classifier, "labels", None)
    return {"model": job.model, "revision": job.revision, "model_files": _model_files(model),
            "model_labels": list(labels) if labels is not None else None,
            "dataset": opened.name, "source": opened.info, "selection": selection.selection(),
            "candidate_labels": job.candidate_labels, "templates": job.templates}


def _model_files(model: Any) -> str | None:
    """A digest of a local model folder's (or file's) names, sizes and modification times; None: not local."""
    if not isinstance(model, str) or not Path(model).expanduser().exists():
        return None
    root = Path(model).expanduser()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    stamps = [(p.relative_to(root).as_posix() if p != root else p.name, p.stat().st_size, p.stat().st_mtime_ns)
              for p in files[:10_000]]
    return hashlib.sha256(json.dumps(stamps).encode()).hexdigest()[:16]


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def record_key(example: Example, run_digest: str) -> str:
    """What a record must have been made from to be reused: this clip's content, label, and model/run."""
    return _digest([fingerprint(example.audio), example.label, run_digest])


def _with_progress(opened: OpenedDataset, progress: bool | None) -> Iterator[Example]:
    """Examples, counted on stderr when asked (or, by default, for many of them on a terminal)."""
    from audiosift.cli.common import PROGRESS_MIN_ITEMS, with_progress

    total = opened.size
    if progress is None:
        progress = sys.stderr.isatty() and (total is None or total >= PROGRESS_MIN_ITEMS)
    return iter(with_progress(iter(opened), total, progress, unit="clip"))


class _Plan:
    """Which examples still need running (their record is missing or stale), and writing their records."""

    def __init__(self, store: PredictionStore, mapper: LabelMapper, run_digest: str):
        self.store, self.mapper, self.run_digest = store, mapper, run_digest
        self.ids: list[str] = []  # every example of the run, in order
        self.keys: dict[str, str] = {}  # record keys of the examples being run
        self.reused = 0
        self.ray_stats: dict = {}

    def to_classify(self, examples: Iterator[Example]) -> Iterator[Example]:
        """The examples to run; unmapped ones are written at once without running them."""
        seen: set[str] = set()
        for example in examples:
            self.ids.append(example.id)
            if example.id in seen:  # listed twice
                continue
            seen.add(example.id)
            key = record_key(example, self.run_digest)
            if self._reusable(self.store.records.get(example.id), key):
                self.reused += 1
                continue
            if self.mapper.target(example.label) is None:
                self.mapper.check_one(example.label)  # labels of a stream are only known as they come
                self.store.append(base_record(example, key) | {"unmapped": True})
                continue
            self.keys[example.id] = key
            yield example

    def _reusable(self, record: dict | None, key: str) -> bool:
        if record is None or record.get("key") != key or record.get("retry"):  # stale, or worth a retry
            return False
        # left unmapped earlier, but a label map now maps it: classify it now
        return not (record.get("unmapped") and self.mapper.target(record.get("label")) is not None)

    def write(self, example: Example, result: dict) -> None:
        self.store.append(base_record(example, self.keys.pop(example.id)) | result)


def base_record(example: Example, key: str) -> dict:
    return {"id": example.id, "index": example.index, "path": example.path, "label": example.label, "key": key}


def _run_engine(classifier, job: ClassificationJob, todo: Iterator[Example], write,
                options: EvaluationOptions, stats: dict) -> int:
    if options.engine == "ray":
        from audiosift.evaluation.engines import run_on_ray

        return run_on_ray(job, todo, write, address=options.ray_address, actors=options.ray_actors,
                          gpus_per_actor=options.ray_gpus_per_actor, stats=stats)
    return run_local(classifier, job, todo, write)


def _finish(folder: Path, store: PredictionStore, plan: _Plan, job: ClassificationJob, opened: OpenedDataset,
            options: EvaluationOptions, processed: int, timing: dict, origin: dict) -> EvaluationResult:
    ids, mapper = plan.ids, plan.mapper
    records = records_for(store, ids)
    pairs, failures, misclassified, unmapped = [], [], [], 0
    for record in records:
        target = mapper.target(record.get("label"))
        if target is None:
            unmapped += 1
        elif "error" in record:
            failures.append(record)
        elif record.get("predictions"):
            ranked = [p["label"] for p in record["predictions"]]
            pairs.append((target, ranked))
            if ranked[0] != target:
                misclassified.append(dict(record, target=target))
    scored = scored_arrays(pairs, mapper.model_labels)
    classify_s = timing["done"] - timing["classifying"]
    metrics = {
        "model": job.model, "dataset": opened.name, "split": opened.info.get("split"),
        "where": opened.info.get("where"),  # the --where filter, e.g. ["fold=1"]; None: the whole split
        "n": len(records), "missing": len(dict.fromkeys(ids)) - len(records),
        "failures": len(failures), "unmapped": unmapped,
        **classification_metrics(scored, label_count=len(mapper.model_labels)),
        # throughput: clips classified (read, decoded, run) per second of this run's classification;
        # wall time: the whole run, opening the dataset and loading the model included
        "throughput_clips_per_s": processed / classify_s if processed and classify_s > 0 else None,
        "classify_time_s": classify_s, "wall_time_s": timing["done"] - timing["started"],
        "processed_this_run": processed, "reused_from_earlier_runs": plan.reused,
        "engine": options.engine, **({"ray": plan.ray_stats} if plan.ray_stats else {}),
        "label_mapping": mapper.summary(),
        "worst_confusions": worst_confusions(scored),
        "provenance": origin,
    }
    # the errors a user should look at first: those the model was surest of
    misclassified.sort(key=lambda record: -record["predictions"][0]["score"])
    files = {key: folder / name for key, name in OUTPUT_FILES.items()}
    report.write_metrics(files["metrics"], metrics)
    report.write_confusion_csv(files["confusion_csv"], scored)
    if scored.classes:
        subset = f" [{' '.join(metrics['where'])}]" if metrics["where"] else ""
        title = (f"{_short(job.model)} on {_short(opened.name)}{subset}: accuracy {metrics['accuracy']:.1%} "
                 f"(n={metrics['scored']})")
        report.plot_confusion(files["confusion_png"], scored, title)
    else:
        files.pop("confusion_png")
    report.write_report(files["report"], metrics, metrics["worst_confusions"], misclassified, failures,
                        confusion_image=files["confusion_png"].name if "confusion_png" in files else None)
    return EvaluationResult(metrics, folder, files)


def _short(name: str) -> str:
    """A local path's last part (a hub id stays whole), for plot titles."""
    path = Path(name)
    return path.name if path.exists() else name
