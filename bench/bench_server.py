"""HTTP serving: N concurrent clients vs the same requests one at a time, and what micro-batching adds.

Two `audiosift serve` subprocesses on 127.0.0.1 serve the same model (the full-size AST keywords
shape with random weights by default: 85.4M parameters, the seed's `keywords` model; speed does not
depend on weight values):
  A: micro-batching on (--max-batch-size 8, --batch-wait-ms 5, the defaults),
  B: micro-batching off (--max-batch-size 1).
The same requests (1 s espeak-ng words, wav) are sent
  1. one at a time to A (sequential),
  2. by N concurrent clients to A (batched),
  3. by N concurrent clients to B (concurrent, unbatched),
in interleaved rounds (so background load drifts affect all alike); we report the median round's
throughput, p50/p99 latency over all rounds, clips per forward, and ratios to the sequential run. Only the server
under test does work while it is measured (the other one is idle). Bounded: --requests per run,
--rounds rounds, a time limit per run.

Run: .venv/bin/python bench/bench_server.py [--size full|tiny] [--clients 8] [--requests 48] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "server"))

import model_factory  # noqa: E402
from server_helpers import server_process  # noqa: E402

WORDS = "yes no up down left right on off stop go zero one two three four five six seven eight nine".split()
RUN_TIME_LIMIT_S = 300  # per run: a stuck server ends the benchmark instead of hanging it


def speech_requests(count: int, workdir: Path) -> list[bytes]:
    """``count`` wav files of one espeak-ng word, padded to 1 s (16 kHz), as request bodies."""
    import soundfile as sf

    from audiosift.audio import load_audio

    bodies = []
    for index in range(count):
        word = WORDS[index % len(WORDS)]
        path = workdir / f"{word}.wav"
        if not path.exists():
            subprocess.run(["espeak-ng", "-w", str(path), word], check=True)
        clip = np.zeros(16000, dtype=np.float32)
        speech = load_audio(path, 16000)[:16000]
        clip[: len(speech)] = speech
        out = workdir / f"req{index}.wav"
        sf.write(out, clip, 16000, subtype="PCM_16")
        bodies.append(out.read_bytes())
    return bodies


async def run_clients(url: str, bodies: list[bytes], clients: int) -> tuple[float, list[float]]:
    """Send every body once with ``clients`` closed-loop clients; (wall seconds, latencies)."""
    import httpx

    queue: asyncio.Queue = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []

    async def client_loop(client):
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            response = await client.post(f"{url}/v1/classify?model=kw&top_k=1", content=body,
                                         headers={"content-type": "audio/wav"})
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: HTTP {response.status_code}: {response.text}")

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=RUN_TIME_LIMIT_S) as client:
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*[client_loop(client) for _ in range(clients)]), RUN_TIME_LIMIT_S)
        return time.perf_counter() - started, latencies


def server_stats(url: str) -> dict:
    import httpx

    return httpx.get(f"{url}/v1/stats").json()["models"]["kw"]


def bench(size: str, clients: int, requests: int, rounds: int, workdir: Path) -> dict:
    folder = model_factory.build_ast(workdir / "ast", size=size)
    bodies = speech_requests(requests, workdir)
    common = ["--model", f"kw={folder}", "--max-concurrent", str(max(16, 2 * clients))]
    with server_process(common + ["--max-batch-size", "8", "--batch-wait-ms", "5"], workdir / "a.log") as batched_url, \
            server_process(common + ["--max-batch-size", "1"], workdir / "b.log") as unbatched_url:
        runs = {
            "sequential (1 client, server A)": (batched_url, 1),
            f"{clients} clients, micro-batching on (A)": (batched_url, clients),
            f"{clients} clients, micro-batching off (B)": (unbatched_url, clients),
        }
        for url, _ in runs.values():  # warm-up: first-call allocations, lazy imports
            asyncio.run(run_clients(url, bodies[:2], 1))
        walls = {name: [] for name in runs}
        latencies = {name: [] for name in runs}
        forwards = {name: 0 for name in runs}
        for _ in range(rounds):
            for name, (url, n) in runs.items():
                before = server_stats(url)["batches"]
                wall, lat = asyncio.run(run_clients(url, bodies, n))
                forwards[name] += server_stats(url)["batches"] - before
                walls[name].append(wall)
                latencies[name] += lat
    results = {}
    for name in runs:
        lat_ms = 1000 * np.array(latencies[name])
        results[name] = {"req_per_s": requests / float(np.median(walls[name])),
                         "p50_ms": float(np.percentile(lat_ms, 50)), "p99_ms": float(np.percentile(lat_ms, 99)),
                         "mean_batch": len(latencies[name]) / forwards[name]}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=["full", "tiny"], default="full", help="AST shape (default: full, 85.4M)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=48, help="requests per run (default: 48)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    import torch

    load_before = f"{os.getloadavg()[0]:.2f}"
    with tempfile.TemporaryDirectory() as tmp:
        results = bench(args.size, args.clients, args.requests, args.rounds, Path(tmp))
    print(f"# audiosift serve: {args.size} AST keywords model, {args.requests} requests of a 1 s wav per run, "
          f"{args.rounds} interleaved rounds")
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"python {platform.python_version()}, torch {torch.__version__}")
    print(f"# load average before the run: {load_before}; after: {os.getloadavg()[0]:.2f} (1 min)")
    baseline = None
    print(f"{'run':<40} {'req/s':>7} {'x seq':>6} {'p50 ms':>8} {'p99 ms':>8} {'clips/forward':>14}")
    for name, row in results.items():
        baseline = baseline or row["req_per_s"]
        print(f"{name:<40} {row['req_per_s']:>7.2f} {row['req_per_s'] / baseline:>6.2f} "
              f"{row['p50_ms']:>8.0f} {row['p99_ms']:>8.0f} {row['mean_batch']:>14.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
