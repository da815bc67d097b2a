"""Throughput of audiosift vs transformers.pipeline on full-size shapes of the seed models.

Random weights at the real shapes (speed does not depend on weight values; see
../shared/reference/seed-models.md). For each model, on the same clips, in one process:
  1. pipeline, one clip per call (how the seed course runs it),
  2. pipeline with batch_size,
  3. audiosift (batched engine, exact fp32),
and the ratio of audiosift to (1). Also checks that audiosift's scores equal the pipeline's.

Run: .venv/bin/python bench/bench_classify.py [--models ast,xlsr,whisper] [--clips N]
         [--device cuda] [--dtype float16]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import model_factory  # noqa: E402

# name -> (builder, clip seconds (min, max), default clip count, batch size)
MODELS = {
    "ast": (model_factory.build_ast, (1.0, 1.0), 24, 8),
    "xlsr": (model_factory.build_wav2vec2, (4.0, 8.0), 6, 4),
    "whisper": (model_factory.build_whisper, (5.0, 10.0), 4, 4),
}
WORDS = "yes no up down left right on off stop go zero one two three four five six seven eight nine".split()


def speech_clips(count: int, seconds: tuple[float, float], workdir: Path) -> list[np.ndarray]:
    """espeak-ng speech, padded/trimmed with low noise to lengths spread over ``seconds``, 16 kHz.

    Without espeak-ng (a bare GPU machine) the clips are voice-like tones instead (said on stderr):
    speed does not depend on what the audio says.
    """
    from audiosift.audio import load_audio

    rng = np.random.default_rng(0)
    clips = []
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        print("# espeak-ng not installed: synthetic voice-like clips", file=sys.stderr)
    for index in range(count):
        words = " ".join(rng.choice(WORDS, size=max(1, int(seconds[1]))))
        if espeak:
            path = workdir / f"clip{index}.wav"
            subprocess.run([espeak, "-w", str(path), words], check=True)
            speech = load_audio(path, 16000)
        else:
            speech = voice_like(seconds[1], rng)
        length = int(16000 * (seconds[0] + (seconds[1] - seconds[0]) * index / max(1, count - 1)))
        clip = rng.normal(0, 0.003, length).astype(np.float32)
        clip[: min(length, len(speech))] += speech[:length]
        clips.append(clip)
    return clips


def voice_like(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Harmonics of a wandering 100-200 Hz pitch with syllable-rate loudness, at 16 kHz."""
    t = np.arange(int(seconds * 16000)) / 16000
    pitch = 150 + 50 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t)
    phase = 2 * np.pi * np.cumsum(pitch) / 16000
    voice = sum(np.sin(k * phase) / k for k in range(1, 8))
    return (0.1 * voice * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)


def interleaved_rates(runs: dict, clips, rounds: int) -> tuple[dict, dict]:
    """Median clips/s of each run over ``rounds`` rounds, the runs alternating within each round so
    that a machine whose speed drifts (other load) affects them alike. Also each run's last output."""
    for run in runs.values():
        run(clips[:1])  # warm-up: first-call allocations, lazy imports
    times: dict[str, list[float]] = {name: [] for name in runs}
    outputs = {}
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            outputs[name] = run(clips)
            times[name].append(time.perf_counter() - started)
    return {name: len(clips) / float(np.median(t)) for name, t in times.items()}, outputs


def bench_model(name: str, count: int | None, workdir: Path, rounds: int, device: str, dtype: str,
                batch_override: int | None = None) -> dict:
    import torch
    from transformers import pipeline

    import audiosift

    build, seconds, default_count, batch_size = MODELS[name]
    batch_size = batch_override or batch_size
    folder = build(workdir / name, size="full")
    clips = speech_clips(count or default_count, seconds, workdir)
    pipe = pipeline("audio-classification", model=str(folder), device=device, dtype=getattr(torch, dtype))
    clf = audiosift.load(str(folder), device=device, dtype=dtype, batch_size=batch_size)

    def pipeline_one_by_one(batch):
        return [pipe(clip, top_k=None) for clip in batch]

    def pipeline_batched(batch):
        return pipe(list(batch), top_k=None, batch_size=batch_size)

    def audiosift_engine(batch):
        return clf(list(batch), sampling_rate=16000, top_k=None)

    rates, outputs = interleaved_rates({"pipeline_1": pipeline_one_by_one, "pipeline_batched": pipeline_batched,
                                        "audiosift": audiosift_engine}, clips, rounds)
    reference, predictions = outputs["pipeline_1"], outputs["audiosift"]
    worst = max(abs({p["label"]: p["score"] for p in r}[q["label"]] - q["score"])
                for r, o in zip(reference, predictions) for q in o)
    return dict(rates, model=name, clips=len(clips), seconds=seconds, max_abs_diff=worst, batch_size=batch_size)


def device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="ast,xlsr,whisper")
    parser.add_argument("--clips", type=int, default=None, help="clips per model (default: per model)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed rounds; medians are reported")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (both runs use it)")
    parser.add_argument("--batch-size", type=int, default=None, help="for both batched runs (default: per model)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    args = parser.parse_args()
    import torch
    import transformers

    print(f"# bench_classify: {platform.processor() or platform.machine()}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), transformers {transformers.__version__}, {args.dtype} on {device_name(args.device)}")
    print(f"{'model':8} {'clips':>5} {'clip s':>9} {'pipeline 1-by-1':>16} {'pipeline batched':>17} "
          f"{'audiosift':>10} {'vs 1-by-1':>10} {'vs batched':>11} {'max |diff|':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            r = bench_model(name, args.clips, Path(tmp), args.rounds, args.device, args.dtype, args.batch_size)
            print(f"{r['model']:8} {r['clips']:>5} {r['seconds'][0]:>4.0f}-{r['seconds'][1]:<4.0f} "
                  f"{r['pipeline_1']:>12.2f} c/s {r['pipeline_batched']:>13.2f} c/s {r['audiosift']:>6.2f} c/s "
                  f"{r['audiosift'] / r['pipeline_1']:>9.2f}x {r['audiosift'] / r['pipeline_batched']:>10.2f}x "
                  f"{r['max_abs_diff']:>11.1e}", flush=True)


if __name__ == "__main__":
    main()
