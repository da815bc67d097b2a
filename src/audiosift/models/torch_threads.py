"""torch's intra-op thread setting as a :class:`~audiosift.models.base.ThreadControl`.

``torch.set_num_threads`` acts on the calling OS thread's OpenMP pool, so a worker thread can run
torch on fewer threads than the caller. Only torch backends import this module.
"""

from __future__ import annotations

from audiosift.models.base import ThreadControl


class TorchThreads(ThreadControl):
    name = "torch"

    def get(self) -> int:
        import torch

        return torch.get_num_threads()

    def set(self, count: int) -> None:
        import torch

        # A thread's first torch call copies the process-wide count into the thread, so make that
        # call first: set_num_threads alone would be undone by it.
        torch.get_num_threads()
        torch.set_num_threads(count)


TORCH_THREADS = TorchThreads()
