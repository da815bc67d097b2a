"""Load-time options in one frozen dataclass, checked in one place."""

from __future__ import annotations

from dataclasses import dataclass

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("float32", "float16", "bfloat16")


@dataclass(frozen=True)
class LoadOptions:
    device: str = "auto"  # auto picks cuda, then mps, then cpu
    dtype: str = "float32"
    batch_size: int = 8
    revision: str | None = None  # hub revision (branch, tag or commit)
    cache_dir: str | None = None  # HF cache folder; default: the HF_HOME / HF_HUB_CACHE setting

    def __post_init__(self):
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be one of {', '.join(DEVICES)} (or cuda:N), got {self.device!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")

    def torch_device(self):
        import torch

        if self.device != "auto":
            if self.device.startswith("cuda") and not torch.cuda.is_available():
                raise ValueError(f"device {self.device!r} asked for, but torch sees no CUDA GPU")
            if self.device == "mps" and not torch.backends.mps.is_available():
                raise ValueError("device 'mps' asked for, but this torch has no Apple MPS support")
            return torch.device(self.device)
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")

    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)


def check_top_k(top_k: int | None) -> None:
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive integer or None (all labels), got {top_k!r}")
