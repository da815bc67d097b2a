"""Runtime options in one frozen dataclass, checked in one place.

:class:`RuntimeOptions` says how a model runs (device, dtype, batch size, which revision, where the
hub cache is). Evaluation jobs, the server and every CLI command compose it rather than repeating its
fields, so a device or dtype is checked here and nowhere else.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from audiosift.errors import UsageError

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("float32", "float16", "bfloat16", "int8")  # int8: ONNX Runtime only (docs/deployment.md)
# auto: an exported folder runs on onnxruntime, anything else on torch; onnx: export once (cached), then onnxruntime.
BACKENDS = ("auto", "torch", "onnx")


@dataclass(frozen=True)
class RuntimeOptions:
    device: str = "auto"  # auto picks cuda, then mps, then cpu
    dtype: str = "float32"
    batch_size: int = 8
    revision: str | None = None  # hub revision (branch, tag or commit)
    cache_dir: str | None = None  # HF cache folder; default: the HF_HOME / HF_HUB_CACHE setting
    backend: str = "auto"  # one of BACKENDS

    def __post_init__(self):
        if not isinstance(self.device, str) or (self.device not in DEVICES and not self.device.startswith("cuda:")):
            raise UsageError(f"device must be one of {', '.join(DEVICES)} (or cuda:N), got {self.device!r}")
        if self.dtype not in DTYPES:
            raise UsageError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.backend not in BACKENDS:
            raise UsageError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.dtype == "int8" and self.backend == "torch":
            raise UsageError("dtype int8 runs on onnxruntime (an int8 ONNX export): use backend 'onnx' or 'auto'")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise UsageError(f"batch_size must be a positive integer, got {self.batch_size!r}")

    def check_device(self) -> None:
        """Fail now (before any model loads) if the device asked for is not there."""
        if self.device in ("auto", "cpu"):
            return  # always there, torch or not (exports and wake words run without torch)
        if importlib.util.find_spec("torch") is None:
            raise UsageError(f"device {self.device!r} runs torch models, and torch is not installed: "
                             f"pip install 'audiosift[torch]'")
        self.torch_device()

    def torch_device(self):
        import torch

        if self.device != "auto":
            if self.device.startswith("cuda") and not torch.cuda.is_available():
                raise UsageError(f"device {self.device!r} asked for, but torch sees no CUDA GPU "
                                 f"(this torch is a CPU build, or no driver is loaded); use --device cpu")
            if self.device == "mps" and not torch.backends.mps.is_available():
                raise UsageError("device 'mps' asked for, but this torch has no Apple MPS support; use --device cpu")
            return torch.device(self.device)
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")

    @property
    def wants_onnx(self) -> bool:
        """Whether a torch model must be exported first (backend onnx, or int8 weights)."""
        return self.backend == "onnx" or self.dtype == "int8"

    def torch_dtype(self):
        import torch

        if self.dtype == "int8":
            raise UsageError("dtype int8 has no torch model: it runs on an int8 ONNX export (backend 'onnx')")
        return getattr(torch, self.dtype)


LoadOptions = RuntimeOptions  # the name it had before evaluation, server and CLI shared it


def check_top_k(top_k: int | None) -> None:
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise UsageError(f"top_k must be a positive integer or None (all labels), got {top_k!r}")
