"""Silero VAD: the wheel's TorchScript model (what audiosift runs) vs its ``silero_vad.onnx`` on onnxruntime.

Same audio, same 32 ms frames, state carried frame to frame in both (the ONNX graph takes the
state, and 64 samples of context before each 512-sample frame, as silero's own OnnxWrapper feeds it).
Two paths, as audiosift uses the model:
  - stream: one frame per call (``listen``, streaming);
  - clips: a batch of clips, all frames of all clips (``classify`` of a list of clips).
Reported: frames/s of each (median of alternating rounds), and the largest difference of the speech
probabilities. audiosift switches to the ONNX file only if it is faster and equal within 1e-4.

    .venv/bin/python bench/bench_silero_onnx.py --seconds 30 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

FRAME, CONTEXT, RATE = 512, 64, 16000


class OnnxSilero:
    """``silero_vad.onnx`` frame by frame, state and context carried (numpy only)."""

    def __init__(self, batch: int = 1):
        import onnxruntime
        import silero_vad

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
        path = Path(silero_vad.__file__).parent / "data" / "silero_vad.onnx"
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.state = np.zeros((2, batch, 128), np.float32)
        self.context = np.zeros((batch, CONTEXT), np.float32)
        self.sr = np.array(RATE, dtype=np.int64)

    def frame(self, samples: np.ndarray) -> np.ndarray:
        x = np.concatenate([self.context, samples], axis=1)
        out, self.state = self.session.run(None, {"input": x, "state": self.state, "sr": self.sr})
        self.context = x[:, -CONTEXT:]
        return out[:, 0]


def torchscript():
    """The wheel's TorchScript model, whatever audiosift would pick."""
    import warnings

    import torch

    from audiosift.models.silero import silero_model_path

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(silero_model_path()), map_location="cpu").eval()


def stream_torch(audio):
    from audiosift.models.silero import SileroStream

    return SileroStream(model=torchscript()).speech_probabilities(audio)


def stream_onnx(audio):
    model = OnnxSilero()
    frames = audio[: len(audio) // FRAME * FRAME].reshape(-1, 1, FRAME)
    return np.array([model.frame(f)[0] for f in frames], np.float32)


def clips_torch(backend, clips):
    return backend.frame_probabilities(clips)


def clips_onnx(clips):
    longest = max(len(c) for c in clips)
    longest += -longest % FRAME
    batch = np.zeros((len(clips), longest), np.float32)
    for row, clip in enumerate(clips):
        batch[row, : len(clip)] = clip
    model = OnnxSilero(len(clips))
    probs = np.stack([model.frame(batch[:, i : i + FRAME]) for i in range(0, longest, FRAME)], axis=1)
    return [probs[row, : -(-len(c) // FRAME)] for row, c in enumerate(clips)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the stream (speech and pauses)")
    parser.add_argument("--clips", type=int, default=8, help="clips in the batched path (4 s each)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from bench_classify import speech_clips

    from audiosift.models.silero import SileroSpeechBackend

    with tempfile.TemporaryDirectory() as scratch:
        parts = speech_clips(max(1, int(args.seconds // 3)), (3.0, 3.0), Path(scratch))
        clips = speech_clips(args.clips, (4.0, 4.0), Path(scratch))
    audio = np.concatenate(parts)[: int(args.seconds * RATE)]
    backend = SileroSpeechBackend()
    backend.model = torchscript()  # the batched clip path, on TorchScript
    import torch

    torch.set_num_threads(1)  # one thread, as the ONNX sessions
    runs = {"stream torch": lambda: stream_torch(audio), "stream onnx": lambda: stream_onnx(audio),
            "clips torch": lambda: clips_torch(backend, clips), "clips onnx": lambda: clips_onnx(clips)}
    load = os.getloadavg()[0]
    times = {name: [] for name in runs}
    outputs = {}
    for name, run in runs.items():
        run()  # warm-up
    for _ in range(args.rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            outputs[name] = run()
            times[name].append(time.perf_counter() - started)
    frames = {"stream": len(audio) // FRAME, "clips": sum(-(-len(c) // FRAME) for c in clips)}
    print(f"Silero VAD v6, {args.seconds:g} s stream and {len(clips)} x 4 s clips, 1 thread each, "
          f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")
    for name, elapsed in times.items():
        print(f"  {name:13} {frames[name.split()[0]] / float(np.median(elapsed)):>9.0f} frames/s")
    stream_diff = float(np.abs(outputs["stream torch"] - outputs["stream onnx"]).max())
    clip_diff = max(float(np.abs(a - b).max()) for a, b in zip(outputs["clips torch"], outputs["clips onnx"]))
    print(f"  max |speech probability difference|: stream {stream_diff:.2e}, clips {clip_diff:.2e}")
    for path in ("stream", "clips"):
        ratio = np.median(times[f"{path} torch"]) / np.median(times[f"{path} onnx"])
        print(f"  {path}: onnx {ratio:.2f}x the TorchScript speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
