"""CPU cost of listening: the fraction of one core ``audiosift listen`` needs to keep up in real time,
with and without VAD gating.

A live recording is simulated: a few minutes of espeak-ng speech (about a quarter of the time),
silence, noise and tones, fed in 0.1 s chunks (as the microphone path does) through
``StreamingClassifier`` with a full-size AST (the keywords preset's shape, random weights: speed
does not depend on weight values), 1 s windows every 0.5 s. Chunks are fed as fast as possible and
the process CPU time (all threads) is divided by the audio time: that is the share of one core the
listener would use in real time (above 1.0: it cannot keep up on one core).

Runs, in one process on the same audio: the VAD alone, the detector with VAD gating (default), the
detector without it (``--no-vad``), and the ratio gated / ungated.

Run: .venv/bin/python bench/bench_listen.py [--minutes 2] [--threads N]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

RATE = 16000
CHUNK = RATE // 10  # 0.1 s, as the microphone path delivers
SCENE = [("silence", 1.5), ("speech", "yes"), ("noise", 2.0), ("speech", "turn on the lights in the kitchen"),
         ("silence", 2.0), ("tone", 1.5), ("speech", "stop"), ("silence", 2.0), ("speech", "go left then right"),
         ("noise", 2.0), ("speech", "no"), ("silence", 1.5)]


def live_audio(minutes: float, workdir: Path) -> tuple[np.ndarray, float]:
    import recordings

    scene, placed = recordings.compose(SCENE, workdir)
    repeats = int(np.ceil(minutes * 60 * RATE / len(scene)))
    speech_share = sum(p.end - p.start for p in placed if p.kind == "speech") / (len(scene) / RATE)
    return np.tile(scene, repeats)[: int(minutes * 60 * RATE)], speech_share


def cpu_share(run, samples: np.ndarray) -> tuple[float, float, object]:
    """(CPU seconds per audio second, wall seconds per audio second, run's result)."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = run(samples)
    audio_seconds = len(samples) / RATE
    return (time.process_time() - cpu) / audio_seconds, (time.perf_counter() - wall) / audio_seconds, result


def feed(detector):
    def run(samples):
        detector.reset()
        events = []
        for start in range(0, len(samples), CHUNK):
            events += detector(samples[start : start + CHUNK])
        return events + detector.flush()

    return run


def vad_only(samples):
    from audiosift.inference.vad import StreamingSegmenter

    segmenter = StreamingSegmenter()
    segments = []
    for start in range(0, len(samples), CHUNK):
        segments += segmenter.push(samples[start : start + CHUNK])
    return segments + segmenter.finish()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2.0, help="simulated recording length (default: 2)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    args = parser.parse_args()
    import torch

    import audiosift
    import model_factory
    from audiosift.inference.streaming import StreamingClassifier

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# bench_listen  python {platform.python_version()}  torch {torch.__version__}  "
          f"threads {torch.get_num_threads()}  cpu {platform.processor() or platform.machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        samples, speech_share = live_audio(args.minutes, Path(tmp))
        classifier = audiosift.load(str(model_factory.build_ast(Path(tmp) / "ast-full", size="full")), device="cpu")
    print(f"audio: {len(samples) / RATE / 60:.1f} min, speech {speech_share:.0%} of the time; full-size AST, "
          f"1 s windows every 0.5 s, 0.1 s chunks")
    gated = StreamingClassifier(classifier, window_s=1.0, hop_s=0.5)
    ungated = StreamingClassifier(classifier, window_s=1.0, hop_s=0.5, vad=False)
    feed(gated)(samples[: 5 * RATE])  # warm-up: first-call allocations, lazy imports
    rows = {}
    rows["VAD alone"] = cpu_share(vad_only, samples)
    rows["listen (VAD gating)"] = cpu_share(feed(gated), samples)
    rows["listen --no-vad"] = cpu_share(feed(ungated), samples)
    print(f"{'run':<22} {'CPU share of one core':>22} {'wall / audio':>13}  windows classified")
    for name, (cpu, wall, _) in rows.items():
        detector = {"listen (VAD gating)": gated, "listen --no-vad": ungated}.get(name)
        counts = f"{detector.windows_classified}/{detector.windows_seen}" if detector else "-"
        print(f"{name:<22} {cpu:22.3f} {wall:13.3f}  {counts}")
    ratio = rows["listen (VAD gating)"][0] / rows["listen --no-vad"][0]
    print(f"CPU with VAD gating / without: {ratio:.2f}")


if __name__ == "__main__":
    main()
