"""Text embeddings of zero-shot prompts, computed once.

A prompt ("This is a sound of dog.") always gets the same embedding from the same model, so each is
encoded by the text tower once and kept in memory: scoring many clips against the same labels then
costs only the audio tower (re-encoding 50 ESC-50 prompts per clip, as the pipeline does, is ~8x the
audio work of a 5 s clip). The cache is keyed by the prompt text, which is fixed by (template, label).

Optionally the embeddings also go to a folder that survives restarts: one ``.npz`` file per model,
named after the model's fingerprint (hub commit, or a hash of its weight/tokenizer/config files, plus
the dtype), so a changed model never reads stale vectors. Files are replaced atomically, merging
with what another process may have written meanwhile.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# The environment variable that turns the on-disk cache on for every zero-shot model loaded.
TEXT_CACHE_ENV = "AUDIOSIFT_TEXT_CACHE"


class TextEmbeddingCache:
    def __init__(self, towers, folder: str | os.PathLike | None = None):
        self.towers = towers
        self.folder = Path(folder).expanduser() if folder else None
        self._vectors: dict[str, np.ndarray] = {}
        self._disk_loaded = False
        self._lock = threading.Lock()  # the server calls in from worker threads
        self.encoded = 0  # prompts the text tower has encoded (tests check the cache with it)

    def embeddings(self, prompts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings ``(len(prompts), d)``; only prompts never seen are encoded."""
        with self._lock:
            self._load_disk_once()
            missing = list(dict.fromkeys(p for p in prompts if p not in self._vectors))
            if missing:
                new = self.towers.embed_texts(missing)
                self.encoded += len(missing)
                self._vectors.update(zip(missing, new))
                self._save_disk(dict(zip(missing, new)))
            return np.stack([self._vectors[p] for p in prompts]) if prompts else \
                np.zeros((0, self.towers.embedding_size), dtype=np.float32)

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
        stored = read_cache_file(self.path(), self.towers.fingerprint())
        for prompt, vector in stored.items():
            self._vectors.setdefault(prompt, vector)

    def _save_disk(self, new: dict[str, np.ndarray]) -> None:
        if self.folder is None:
            return
        path = self.path()
        merged = read_cache_file(path, self.towers.fingerprint())  # another process may have added some
        merged.update(new)
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


def read_cache_file(path: Path, fingerprint: str) -> dict[str, np.ndarray]:
    """The prompts stored for ``fingerprint`` (empty if the file is missing, unreadable or foreign)."""
    if path is None or not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as stored:
            if str(stored["fingerprint"]) != fingerprint:
                return {}
            return dict(zip(stored["prompts"].tolist(), stored["embeddings"]))
    except (OSError, ValueError, KeyError):  # a torn or foreign file is only a cache miss
        return {}
