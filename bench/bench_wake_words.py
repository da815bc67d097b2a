"""Real-time cost of the wake-word models, streaming 80 ms chunks as a microphone would.

Cost is the calling thread's CPU time per second of audio (``time.thread_time``): the fraction of
one core the model keeps busy in real time, and nearly immune to other processes on the machine.
The target is <= 5% of a core for one model. Rows:
  - openWakeWord with 1 and with all 5 heads on one shared mel + embedding pass (TFLite front end),
    and the same on the ONNX front end;
  - N separate one-head openWakeWord models (N front ends), to show what sharing saves;
  - microWakeWord with 1 and with all 4 models (each model has its own state, no sharing).

Run: .venv/bin/python bench/bench_wake_words.py [--seconds 30] [--chunk 1280]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # numpy's BLAS is not on this path; keep it off the cores

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from wake_word_audio import RATE, phrase  # noqa: E402

from audiosift.models.wakeword.microwakeword import MicroWakeWordBackend  # noqa: E402
from audiosift.models.wakeword.openwakeword import OpenWakeWordBackend  # noqa: E402

SENTENCES = ["alexa", "turn on the lights in the kitchen", "hey jarvis", "what time is it", "hey mycroft"]


def test_signal(seconds: float) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        parts = [phrase(text, Path(folder)) for text in SENTENCES]
    speech = np.concatenate(parts)
    return np.tile(speech, int(np.ceil(seconds * RATE / len(speech))))[: int(seconds * RATE)]


def core_fraction(backends, signal: np.ndarray, chunk: int) -> float:
    """CPU seconds per audio second for streaming ``signal`` through every backend in ``backends``."""
    streams = [backend.new_stream() for backend in backends]
    for stream in streams:  # warm-up: first calls allocate tensors
        stream.push(signal[: RATE])
        stream.reset()
    start = time.thread_time()
    for offset in range(0, len(signal), chunk):
        for stream in streams:
            stream.push(signal[offset: offset + chunk])
    return (time.thread_time() - start) / (len(signal) / RATE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="audio streamed per row")
    parser.add_argument("--chunk", type=int, default=1280, help="samples per push (1280 = 80 ms)")
    args = parser.parse_args()
    signal = test_signal(args.seconds)
    words = OpenWakeWordBackend().words
    rows = [
        ("openWakeWord, 1 head (alexa), TFLite", [OpenWakeWordBackend(["alexa"])]),
        ("openWakeWord, 5 heads, one shared front end, TFLite", [OpenWakeWordBackend()]),
        ("openWakeWord, 1 head, ONNX front end", [OpenWakeWordBackend(["alexa"], frontend="onnx")]),
        ("openWakeWord, 5 heads, ONNX front end", [OpenWakeWordBackend(frontend="onnx")]),
        ("openWakeWord, 5 separate 1-head models (5 front ends)", [OpenWakeWordBackend([w]) for w in words]),
        ("microWakeWord, 1 model (alexa)", [MicroWakeWordBackend(["alexa"])]),
        ("microWakeWord, 4 models", [MicroWakeWordBackend()]),
    ]
    print(f"{args.seconds:.0f} s of speech and silence, pushed {args.chunk} samples at a time")
    print(f"{'model':58s} {'% of one core':>14s}")
    for name, backends in rows:
        print(f"{name:58s} {100 * core_fraction(backends, signal, args.chunk):13.2f}%")


if __name__ == "__main__":
    main()
