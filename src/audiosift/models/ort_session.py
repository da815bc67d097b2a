"""onnxruntime sessions, made the same way for every ONNX file audiosift runs: exported models, the
Silero VAD, the wake-word front end and Piper voices.

Denormal floats are flushed to zero (``session.set_denormal_as_zero``). A masked attention score
(-100 in CLAP's shifted windows) becomes exp(-100) = 3.7e-44 in the softmax, a denormal, and x86
arithmetic on denormals is many times slower: measured on CLAP's audio graph (8 clips), 467 -> 319
ms in int8 and 645 -> 500 ms in fp32, with the outputs bit for bit the same. A value below 1.2e-38
that becomes 0 changes no score at fp32 precision. Side effect, measured: onnxruntime sets the
flag on its pool threads and on the thread that creates the session, for good, and threads
started from that one inherit it; there, numpy and torch also read 1e-40 as 0.
"""

from __future__ import annotations

from audiosift.errors import ModelError


def session(path: str, threads: int = 1):
    """An ``InferenceSession`` of ``path`` on the CPU provider: ``threads`` intra-op threads, one
    inter-op thread (callers run batches side by side themselves), all graph optimisations."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    options.log_severity_level = 3  # errors only: its optimiser's notes (CastLike not folded) are noise
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own untyped errors (InvalidProtobuf, Fail, NoSuchFile)
        raise ModelError(f"{path}: onnxruntime could not load this ONNX file (truncated, damaged, or made by a "
                         f"newer exporter than onnxruntime {onnxruntime.__version__} reads): "
                         f"{str(error).strip()[:300]}") from error
