"""Text embeddings of zero-shot prompts, computed once.

A prompt ("This is a sound of dog.") always gets the same embedding from the same model, so each is
encoded by the text tower once and kept in memory: scoring many clips against the same labels then
costs only the audio tower (re-encoding 50 ESC-50 prompts per clip, as the pipeline does, is ~8x the
audio work of a 5 s clip). The cache is keyed by the prompt text, which is fixed by (template, label).
It holds at most ``max_entries`` prompts, the least recently used going first, so a server that sees
new labels all day stays the same size.

Optionally the embeddings also go to a folder that survives restarts: one ``.npz`` file per model,
named after the model's fingerprint (hub commit, or a hash of its weight/tokenizer/config files, plus
the dtype), so a changed model never reads stale vectors. Files are replaced atomically, merging
with what another process may have written meanwhile, and keep only the ``max_entries`` newest
prompts: the file stays bounded too, and reading it never loads more than that.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from audiosift.errors import UsageError

# The environment variable that turns the on-disk cache on for every zero-shot model loaded.
TEXT_CACHE_ENV = "AUDIOSIFT_TEXT_CACHE"
# Prompts kept per model: ESC-50 x the 7-template ensemble is 350, a server's request at most 1000
# (100 labels x 10 templates); 4096 x 512 float32 dimensions is 8 MiB.
DEFAULT_MAX_ENTRIES = 4096


class TextEmbeddingCache:
    def __init__(self, towers, folder: str | os.PathLike | None = None, max_entries: int = DEFAULT_MAX_ENTRIES):
        self.towers = towers
        self.folder = Path(folder).expanduser() if folder else None
        self.max_entries = _checked_size(max_entries)
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()  # least recently used first
        self._disk_loaded = False
        self._lock = threading.Lock()  # the server calls in from worker threads
        self.encoded = 0  # prompts the text tower has encoded (tests check the cache with it)

    def embeddings(self, prompts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings ``(len(prompts), d)``; only prompts never seen are encoded."""
        with self._lock:
            self._load_disk_once()
            found = {}
            for prompt in prompts:
                if prompt in self._vectors:
                    self._vectors.move_to_end(prompt)
                    found[prompt] = self._vectors[prompt]
            missing = list(dict.fromkeys(p for p in prompts if p not in found))
            if missing:
                new = dict(zip(missing, self.towers.embed_texts(missing)))
                self.encoded += len(missing)
                found.update(new)  # the answer holds them even if they do not all fit in the cache
                self._remember(new)
                self._save_disk(new)
            return np.stack([found[p] for p in prompts]) if prompts else \
                np.zeros((0, self.towers.embedding_size), dtype=np.float32)

    def resize(self, max_entries: int) -> None:
        """Keep at most ``max_entries`` prompts from now on (the least recently used go now)."""
        with self._lock:
            self.max_entries = _checked_size(max_entries)
            self._remember({})

    def _remember(self, new: dict[str, np.ndarray]) -> None:
        for prompt, vector in new.items():
            self._vectors[prompt] = vector
            self._vectors.move_to_end(prompt)
        while len(self._vectors) > self.max_entries:
            self._vectors.popitem(last=False)

    def use_folder(self, folder: str | os.PathLike) -> None:
        """Persist to ``folder`` from now on (what is already in memory is written there too)."""
        with self._lock:
            self.folder, self._disk_loaded = Path(folder).expanduser(), False
            self._load_disk_once()
            if self._vectors:
                self._save_disk(dict(self._vectors))

    def __len__(self) -> int:
        return len(self._vectors)

    def path(self) -> Path | None:
        if self.folder is None:
            return None
        name = hashlib.sha256(self.towers.fingerprint().encode()).hexdigest()[:32]
        return self.folder / f"clap-text-{name}.npz"

    def _load_disk_once(self) -> None:
        if self._disk_loaded or self.folder is None:
            return
        self._disk_loaded = True
        stored = read_cache_file(self.path(), self.towers.fingerprint(), self.max_entries)
        # What is already in memory is more recent than the file: it stays at the recent end.
        self._vectors = OrderedDict({**stored, **self._vectors})
        self._remember({})

    def _save_disk(self, new: dict[str, np.ndarray]) -> None:
        if self.folder is None:
            return
        path = self.path()
        merged = read_cache_file(path, self.towers.fingerprint(), self.max_entries)  # others may have added some
        for prompt in new:
            merged.pop(prompt, None)  # re-added at the end: the file is ordered oldest first
        merged.update(new)
        merged = dict(list(merged.items())[-self.max_entries:])
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
        os.close(handle)
        try:
            np.savez(temporary, fingerprint=np.array(self.towers.fingerprint()),
                     prompts=np.array(list(merged), dtype=str),
                     embeddings=np.stack(list(merged.values())).astype(np.float32))
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)


def read_cache_file(path: Path, fingerprint: str, limit: int | None = None) -> dict[str, np.ndarray]:
    """The prompts stored for ``fingerprint``, at most the ``limit`` newest (empty if the file is
    missing, unreadable or foreign). Only those rows are read, however large the file."""
    if path is None or not path.is_file():
        return {}
    try:
        with zipfile.ZipFile(path) as archive:
            if str(_read_rows(archive, "fingerprint")) != fingerprint:
                return {}
            prompts = _read_rows(archive, "prompts", limit)
            embeddings = _read_rows(archive, "embeddings", limit)
        if len(prompts) != len(embeddings):
            return {}
        return dict(zip(prompts.tolist(), embeddings))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # a torn or foreign file: a miss
        return {}


def _read_rows(archive: zipfile.ZipFile, name: str, limit: int | None = None) -> np.ndarray:
    """The last ``limit`` rows of the ``.npy`` member ``name`` (np.savez stores them uncompressed)."""
    from numpy.lib import format as npy

    with archive.open(f"{name}.npy") as handle:
        version = npy.read_magic(handle)
        readers = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
        if version not in readers:
            raise ValueError(f"unsupported .npy version {version}")
        shape, fortran_order, dtype = readers[version](handle)
        if dtype.hasobject or (fortran_order and len(shape) > 1):
            raise ValueError("not an array this cache writes")
        if not shape:
            return np.frombuffer(handle.read(dtype.itemsize), dtype)[0]
        row_bytes = dtype.itemsize * int(np.prod(shape[1:]))
        rows = shape[0] if limit is None else min(limit, shape[0])
        handle.seek((shape[0] - rows) * row_bytes, os.SEEK_CUR)
        data = handle.read(rows * row_bytes)
        if len(data) != rows * row_bytes:
            raise EOFError(f"{name}: truncated")
        return np.frombuffer(data, dtype).reshape((rows, *shape[1:]))


def _checked_size(max_entries: int) -> int:
    if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
        raise UsageError(f"max_entries (prompts the text cache keeps) must be a positive integer, "
                         f"got {max_entries!r}")
    return max_entries
