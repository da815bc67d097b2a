"""CPU deployment speed: ONNX Runtime (fp32, int8) vs torch vs the one-clip ``transformers.pipeline``.

Full-size random-weight models at the seed models' shapes (speed does not depend on weight values;
see ../shared/reference/seed-models.md). Per model, in one process, on the same clips, timed rounds
alternating between the runs (so load from other processes hits them alike), medians reported:
  1. reference: ``transformers.pipeline``, one clip per call (as the seed runs it);
  2. audiosift on torch (fp32);  3. audiosift on ONNX Runtime fp32;  4. audiosift on ONNX Runtime int8.
Every ratio is against (1) in the same run. Also:
- int8 fidelity on the bench's speech clips against torch fp32: logit cosine (smallest over clips;
  CLAP: audio-embedding cosine), top-1 agreement, max score difference; and fp32 ORT parity;
- GFLOP per clip (torch's FlopCounterMode over one clip's forward: matrix products and convolutions)
  and the share of the measured GEMM peak each run reaches (fp32 peak: one core's torch.mm 2048^3 on
  one thread, times the cores; int8 runs are also shown against torch._int_mm's, where this CPU build
  has it).

Models and inputs (the issue's table): ast (speech-commands, 1 s clips), clap (5 s at 44.1 kHz, the
50 ESC-50 labels, default prompt; the pipeline re-encodes the labels every call, audiosift once),
xlsr (XLS-R 300M, 8 s clips at 8 kHz; the pipeline is given them resampled to 16 kHz, untimed),
whisper (whisper-medium encoder, 10 s clips, padded to 30 s by its extractor).

    .venv/bin/python bench/bench_onnx.py --models ast --clips 16 --rounds 3
Exports and full-size builds are kept in --workdir (default /tmp/audiosift-bench-onnx) for reruns.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402

# name -> (builder name, clip seconds, the rate clips are given at, default clips, batch size)
MODELS = {
    "ast": ("build_ast", 1.0, 16000, 16, 8),
    "clap": ("build_clap", 5.0, 44100, 8, 8),
    "xlsr": ("build_wav2vec2", 8.0, 8000, 4, 4),
    "whisper": ("build_whisper", 10.0, 16000, 3, 4),
}


def speech(count: int, seconds: float, rate: int, workdir: Path) -> list[np.ndarray]:
    """espeak-ng speech (bench_classify's clips) at ``seconds``, resampled to ``rate``."""
    from bench_classify import speech_clips

    from audiosift.audio import resample

    clips = speech_clips(count, (seconds, seconds), workdir)
    return [resample(clip, 16000, rate).astype(np.float32) for clip in clips] if rate != 16000 else clips


def gemm_peaks() -> dict:
    """The machine's matrix-product peak: one core's best torch.mm (fp32) and torch._int_mm (int8, where
    this CPU build has it) on one thread, times the cores. One thread per core, because torch's own
    2-thread GEMM loses to spinning OpenMP barriers when other processes share the cores (measured
    here: 2048^3 at ~200 GFLOP/s on one thread, about the same on two)."""
    import torch

    def best(run, flop, repeats=6):
        run()
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        return flop / min(times) / 1e9

    n, threads, cores = 2048, torch.get_num_threads(), os.cpu_count() or 1
    torch.set_num_threads(1)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        peaks = {"fp32": cores * best(lambda: torch.mm(a, b), 2 * n ** 3)}
        try:
            qa = torch.randint(-127, 127, (n, n), dtype=torch.int8)
            qb = torch.randint(-127, 127, (n, n), dtype=torch.int8)
            peaks["int8"] = cores * best(lambda: torch._int_mm(qa, qb), 2 * n ** 3)
        except (RuntimeError, AttributeError):
            peaks["int8"] = None
    finally:
        torch.set_num_threads(threads)
    return peaks


def gflop_per_clip(backend, clip: np.ndarray) -> float:
    """FLOPs of one clip's forward through the torch model (FlopCounterMode), in GFLOP.

    FlopCounterMode cannot see through a weight-norm parametrization (wav2vec2's positional conv):
    those are folded into plain weights first (the same product, so the same count)."""
    from torch.nn.utils import parametrize
    from torch.utils.flop_counter import FlopCounterMode

    for module in list(backend.model.modules()):
        if parametrize.is_parametrized(module):
            for name in list(module.parametrizations):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    from audiosift.models.cpu_layers import original_layers

    # transformers' layers: the same products as audiosift's CPU layers (in-place addmm_, the fused
    # attention kernel), which FlopCounterMode does not all count.
    with original_layers(backend.model), FlopCounterMode(display=False) as counter:
        backend.forward(backend.collate([backend.featurize(clip)])[0][1])
    return counter.get_total_flops() / 1e9


def interleaved(runs: dict, rounds: int) -> tuple[dict, dict]:
    """Seconds of each run in each of ``rounds`` alternating rounds, and each run's last output."""
    for run in runs.values():
        run(warm=True)
    times: dict[str, list[float]] = {name: [] for name in runs}
    outputs = {}
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            outputs[name] = run()
            times[name].append(time.perf_counter() - started)
    return times, outputs


def exports(name: str, folder: Path, workdir: Path) -> dict:
    """fp32 and int8 exports of ``folder`` (made once, kept in ``workdir``) and their export times."""
    import json

    from audiosift.models.onnx_export import export_model

    made = {}
    for precision in ("float32", "int8"):
        target = workdir / f"{name}-onnx-{precision}"
        manifest_path = target / "audiosift-onnx.json"
        if not manifest_path.is_file():
            export_model(str(folder), target, int8=precision == "int8",
                         report=lambda line: print(f"#   {line}", flush=True))
        made[precision] = (target, json.loads(manifest_path.read_text()))
    return made


def classifier_runs(name, folder, made, clips, rate, batch_size):
    import torch
    from transformers import pipeline

    import audiosift
    from audiosift.audio import resample

    pipe = pipeline("audio-classification", model=str(folder), device="cpu", dtype=torch.float32)
    at_16k = [resample(c, rate, 16000).astype(np.float32) if rate != 16000 else c for c in clips]
    models = {"torch": audiosift.load(str(folder), device="cpu", batch_size=batch_size),
              "onnx fp32": audiosift.load(str(made["float32"][0]), batch_size=batch_size),
              "onnx int8": audiosift.load(str(made["int8"][0]), batch_size=batch_size)}

    def reference(warm=False):
        return [pipe(c, top_k=None) for c in (at_16k[:1] if warm else at_16k)]

    def ours(model):
        return lambda warm=False: model.scores([model.prepare(c, rate) for c in (clips[:1] if warm else clips)])

    return {"pipeline": reference, **{key: ours(model) for key, model in models.items()}}, models


def classifier_fidelity(models, clips, rate) -> dict:
    from audiosift.models import onnx_fidelity as fidelity

    torch_backend = models["torch"].backend
    waves = [models["torch"].prepare(c, rate) for c in clips]
    reference = fidelity.classifier_logits(torch_backend, waves, fidelity.torch_logits(torch_backend))
    out = {}
    for key in ("onnx fp32", "onnx int8"):
        backend = models[key].backend
        out[key] = fidelity.compare_logits(reference, fidelity.classifier_logits(backend, waves, backend.logits))
    return out


def clap_runs(folder, made, clips, rate, batch_size, labels):
    from transformers import pipeline

    import audiosift
    from audiosift.audio import resample

    pipe = pipeline("zero-shot-audio-classification", model=str(folder), device="cpu")
    at_48k = [resample(c, rate, 48000).astype(np.float32) for c in clips]
    models = {"torch": audiosift.load(str(folder), device="cpu", batch_size=batch_size),
              "onnx fp32": audiosift.load(str(made["float32"][0]), batch_size=batch_size),
              "onnx int8": audiosift.load(str(made["int8"][0]), batch_size=batch_size)}
    for model in models.values():
        model.label_embeddings(labels)  # prompts encoded once (what a deployment does), untimed

    def reference(warm=False):
        return [pipe(c, candidate_labels=labels) for c in (at_48k[:1] if warm else at_48k)]

    def ours(model):
        return lambda warm=False: model.scores([model.prepare(c, rate) for c in (clips[:1] if warm else clips)],
                                               model.label_set(labels))

    return {"pipeline": reference, **{key: ours(model) for key, model in models.items()}}, models


def clap_fidelity(models, clips, rate, labels) -> dict:
    from audiosift.models import onnx_fidelity as fidelity

    waves = [models["torch"].prepare(c, rate) for c in clips]
    reference = models["torch"].backend.embed_clips(waves, 4)
    text = models["torch"].label_embeddings(labels)
    scale = models["torch"].backend.logit_scale
    return {key: fidelity.compare_clap(reference, models[key].backend.embed_clips(waves, 4), text, scale)
            for key in ("onnx fp32", "onnx int8")}


def bench(name: str, count: int | None, rounds: int, workdir: Path, peaks: dict) -> None:
    import model_factory

    builder, seconds, rate, default_count, batch_size = MODELS[name]
    folder = workdir / f"{name}-full"
    if not (folder / "config.json").is_file():
        getattr(model_factory, builder)(folder, size="full")
    started = time.perf_counter()
    made = exports(name, folder, workdir)
    print(f"# {name}: exports ready in {time.perf_counter() - started:.0f} s (made now or reused); export took "
          f"{made['float32'][1]['export']['seconds']} s fp32, {made['int8'][1]['export']['seconds']} s int8; "
          f"int8 at export: {made['int8'][1]['fidelity']['int8_vs_float32']}", flush=True)
    clips = speech(count or default_count, seconds, rate, workdir)
    if name == "clap":
        labels = [label.replace("_", " ") for label in model_factory.ESC50]
        runs, models = clap_runs(folder, made, clips, rate, batch_size, labels)
        fidelity = clap_fidelity(models, clips, rate, labels)
    else:
        runs, models = classifier_runs(name, folder, made, clips, rate, batch_size)
        fidelity = classifier_fidelity(models, clips, rate)
    load = os.getloadavg()[0]
    times, _ = interleaved(runs, rounds)
    gflop = gflop_per_clip(models["torch"].backend, models["torch"].prepare(clips[0], rate))  # after: it edits the model
    report(name, len(clips), seconds, rate, times, fidelity, gflop, peaks, load, os.getloadavg()[0])


def report(name, n, seconds, rate, times, fidelity, gflop, peaks, load_before, load_after) -> None:
    """Median and best round of each run; ratios against the pipeline's median (and best vs best: the
    one-clip pipeline's 2-thread torch suffers most when other processes share the cores)."""
    median = {key: n / float(np.median(t)) for key, t in times.items()}
    best = {key: n / float(np.min(t)) for key, t in times.items()}
    print(f"{name}: {n} clips of {seconds:g} s at {rate} Hz, {len(times['pipeline'])} rounds; {gflop:.1f} GFLOP "
          f"per clip (torch fp32 forward); load average {load_before:.1f} before, {load_after:.1f} after")
    print(f"  {'run':10} {'clips/s median':>14} {'(best)':>7} {'vs pipeline':>11} {'(best/best)':>11} "
          f"{'GFLOP/s':>8} {'of fp32 peak':>12} {'of int8 peak':>12}")
    for key in times:
        achieved = gflop * median[key]
        int8_share = f"{achieved / peaks['int8']:>12.0%}" if key == "onnx int8" and peaks["int8"] else f"{'':>12}"
        print(f"  {key:10} {median[key]:>14.2f} {best[key]:>7.2f} {median[key] / median['pipeline']:>10.2f}x "
              f"{best[key] / best['pipeline']:>10.2f}x {achieved:>8.1f} {achieved / peaks['fp32']:>12.0%} {int8_share}")
    for key, numbers in fidelity.items():
        cosine = numbers.get("logit_cosine", numbers.get("embedding_cosine"))
        print(f"  {key} vs torch fp32 on these clips: logit/embedding cosine >= {cosine:.6f}, top-1 agreement "
              f"{numbers['top1_agreement']:.0%}, max score difference {numbers['max_score_difference']:.2e}")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="ast,clap", help=f"comma-separated, of {', '.join(MODELS)}")
    parser.add_argument("--clips", type=int, default=None, help="clips per model (default: per model)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", default="/tmp/audiosift-bench-onnx")
    args = parser.parse_args()
    import onnxruntime
    import torch

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    peaks = gemm_peaks()
    int8_peak = f"{peaks['int8']:.0f}" if peaks["int8"] else "n/a"
    print(f"# bench_onnx: torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime "
          f"{onnxruntime.__version__}, {os.cpu_count()} cpus; GEMM peak fp32 {peaks['fp32']:.0f} GFLOP/s, "
          f"int8 {int8_peak} GOP/s (one core's 2048^3 x {os.cpu_count()} cores)", flush=True)
    for name in args.models.split(","):
        bench(name, args.clips, args.rounds, workdir, peaks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
