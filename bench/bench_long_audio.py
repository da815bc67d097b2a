"""Long recordings: real-time factor and peak memory on a generated 1-hour file.

The file: 44.1 kHz stereo 16-bit WAV (what a field recorder writes), built from a 60 s scene of
espeak-ng speech, silence, white noise and tones, written minute by minute (never whole in memory).

Each phase runs in a fresh subprocess so its peak RSS (``ru_maxrss``) is its own:
  decode-whole    reference: ``load_audio`` of the whole file (what the seed does with any input)
  decode-stream   ``open_stream`` blocks -> mono 16 kHz (the decoder the long-audio paths use)
  speech          ``speech_segments``: Silero VAD over the whole hour
  keywords        ``classify_windows`` with a full-size AST (the keywords preset's shape, random
                  weights: speed does not depend on weight values), 1 s windows every 0.5 s, over
                  the first ``--ast-minutes`` minutes (the whole hour would take ~an hour on 2 cores)

RTF = processing time / audio time (below 1 is faster than real time).

Run: .venv/bin/python bench/bench_long_audio.py [--minutes 60] [--ast-minutes 3] [--skip-whole]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

FILE_RATE = 44100
SCENE = [("silence", 2.0), ("speech", "turn on the lights in the kitchen please"), ("noise", 6.0),
         ("speech", "yes"), ("tone", 3.0), ("silence", 8.0), ("speech", "the quick brown fox jumps over the lazy dog"),
         ("noise", 10.0), ("speech", ("bonjour tout le monde, comment allez vous", "fr")), ("silence", 12.0),
         ("speech", "stop"), ("tone", 4.0), ("noise", 6.0)]


def make_hour(path: Path, minutes: int, workdir: Path) -> float:
    """Write ``minutes`` of scenes (each padded/trimmed to 60 s) as 44.1 kHz stereo; returns seconds."""
    import soundfile as sf

    import recordings
    from audiosift.audio import resample

    scene16, _ = recordings.compose(SCENE, workdir)
    scene16 = np.pad(scene16, (0, max(0, 60 * 16000 - len(scene16))))[: 60 * 16000]
    scene = resample(scene16, 16000, FILE_RATE)
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", samplerate=FILE_RATE, channels=2, subtype="PCM_16") as handle:
        for _ in range(minutes):
            shifted = np.roll(scene, int(rng.integers(0, len(scene))))  # vary where speech falls
            handle.write(np.stack([shifted, 0.8 * shifted], axis=1))
    return minutes * 60.0


def phase(name: str, path: str, ast_folder: str, ast_minutes: float) -> dict:
    """Run in a child process: one phase, with its own timing and peak memory."""
    started = time.perf_counter()
    result: dict = {"phase": name}
    if name == "decode-whole":
        from audiosift.audio import load_audio

        result["samples"] = len(load_audio(path, 16000))
    elif name == "decode-stream":
        from audiosift.audio.stream import open_stream

        result["samples"] = sum(len(block) for block in open_stream(path, 16000))
    elif name == "speech":
        from audiosift.inference.vad import speech_segments

        segments = speech_segments(path)
        result["segments"] = len(segments)
        result["speech_seconds"] = round(sum(s.end - s.start for s in segments), 1)
    elif name == "keywords":
        result.update(_keywords(path, ast_folder, ast_minutes, started))
    result["seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = memory_mb("VmHWM")
    return result


def memory_mb(field: str) -> float:
    """``VmHWM`` (peak RSS) or ``VmRSS`` of this process, in MB. Not ``ru_maxrss``: that one carries the
    parent's peak over fork and exec, so a child would report the parent's torch and model."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"{field} not in /proc/self/status (this benchmark reads Linux's process status)")


def _keywords(path: str, ast_folder: str, minutes: float, started: float) -> dict:
    import audiosift
    from audiosift.inference.windows import WindowOptions, classify_windows

    clf = audiosift.load(ast_folder, device="cpu", batch_size=8)
    load_rss = memory_mb("VmRSS")
    model_started = time.perf_counter()
    windows = 0
    for window in classify_windows(clf, path, WindowOptions(1.0, 0.5, top_k=1)):
        windows += 1
        if window["end"] >= minutes * 60:
            break
    return {"windows": windows, "audio_seconds": minutes * 60, "rss_after_model_load_mb": round(load_rss),
            "model_seconds": time.perf_counter() - model_started}


def run_phase(name: str, path: Path, ast_folder: Path, ast_minutes: float) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_long_audio as b; "
            f"print(json.dumps(b.phase({name!r}, {str(path)!r}, {str(ast_folder)!r}, {ast_minutes!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=60, help="length of the generated file (default: 60)")
    parser.add_argument("--ast-minutes", type=float, default=3.0, help="minutes classified by the full AST")
    parser.add_argument("--skip-whole", action="store_true", help="skip the whole-file decode reference")
    args = parser.parse_args()
    import torch

    import model_factory

    print(f"# bench_long_audio  python {platform.python_version()}  torch {torch.__version__}  "
          f"threads {torch.get_num_threads()}  cpu {platform.processor() or platform.machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path = workdir / "hour.wav"
        started = time.perf_counter()
        duration = make_hour(path, args.minutes, workdir)
        print(f"generated {duration / 60:.0f} min of 44.1 kHz stereo 16-bit WAV ({path.stat().st_size / 1e6:.0f} MB) "
              f"in {time.perf_counter() - started:.1f} s")
        ast_folder = model_factory.build_ast(workdir / "ast-full", size="full")
        phases = ["decode-stream", "speech", "keywords"] + ([] if args.skip_whole else ["decode-whole"])
        results = {name: run_phase(name, path, ast_folder, args.ast_minutes) for name in phases}
    report(results, duration)


def report(results: dict, duration: float) -> None:
    print(f"{'phase':<14} {'audio':>9} {'time':>8} {'RTF':>8} {'peak RSS':>9}  notes")
    for name, r in results.items():
        audio = r.get("audio_seconds", duration)
        seconds = r.get("model_seconds", r["seconds"])
        notes = {k: v for k, v in r.items() if k not in {"phase", "seconds", "peak_rss_mb", "audio_seconds",
                                                         "model_seconds"}}
        print(f"{name:<14} {audio / 60:7.1f} m {seconds:7.1f}s {seconds / audio:8.4f} {r['peak_rss_mb']:7.0f}MB  "
              f"{json.dumps(notes)}")
    if "decode-whole" in results:
        ratio = results["decode-whole"]["peak_rss_mb"] / results["decode-stream"]["peak_rss_mb"]
        print(f"peak RSS, whole-file decode / streaming decode: {ratio:.1f}x")


if __name__ == "__main__":
    main()
