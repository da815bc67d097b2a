"""The prompt-embedding cache: computed once, bounded (least recently used go first), in memory and on disk."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from audiosift.errors import UsageError
from audiosift.inference.text_cache import TextEmbeddingCache, read_cache_file

DIMENSIONS = 8


class FakeTowers:
    """A text tower whose embedding of a prompt is derived from the prompt (so a wrong row shows)."""

    embedding_size = DIMENSIONS

    def __init__(self):
        self.calls: list[list[str]] = []

    def embed_texts(self, prompts):
        self.calls.append(list(prompts))
        return np.stack([vector_of(p) for p in prompts])

    def fingerprint(self) -> str:
        return "fake-towers-v1"


def vector_of(prompt: str) -> np.ndarray:
    return np.random.default_rng(zlib.crc32(prompt.encode())).standard_normal(DIMENSIONS).astype(np.float32)


def test_least_recently_used_prompts_are_evicted():
    towers = FakeTowers()
    cache = TextEmbeddingCache(towers, max_entries=3)
    cache.embeddings(["a", "b", "c"])
    cache.embeddings(["a"])  # a is now the most recent: b is the oldest
    cache.embeddings(["d"])
    assert len(cache) == 3 and cache.encoded == 4
    cache.embeddings(["a", "c", "d"])  # all still cached
    assert cache.encoded == 4
    cache.embeddings(["b"])  # evicted, so encoded again
    assert cache.encoded == 5 and towers.calls[-1] == ["b"]


def test_a_request_larger_than_the_cache_still_gets_every_row():
    cache = TextEmbeddingCache(FakeTowers(), max_entries=2)
    prompts = ["one", "two", "three", "two", "four"]
    rows = cache.embeddings(prompts)
    np.testing.assert_array_equal(rows, np.stack([vector_of(p) for p in prompts]))
    assert len(cache) == 2


def test_resize_evicts_at_once_and_sizes_are_checked():
    cache = TextEmbeddingCache(FakeTowers(), max_entries=10)
    cache.embeddings([str(i) for i in range(10)])
    cache.resize(4)
    assert len(cache) == 4
    with pytest.raises(UsageError, match="positive integer"):
        cache.resize(0)
    with pytest.raises(UsageError, match="positive integer"):
        TextEmbeddingCache(FakeTowers(), max_entries=True)


def test_the_disk_cache_keeps_only_the_newest_and_loads_no_more(tmp_path):
    first = TextEmbeddingCache(FakeTowers(), tmp_path, max_entries=5)
    for i in range(12):
        first.embeddings([f"prompt {i}"])
    stored = read_cache_file(first.path(), "fake-towers-v1")
    assert list(stored) == [f"prompt {i}" for i in range(7, 12)]  # the file is bounded too, oldest first
    np.testing.assert_array_equal(stored["prompt 9"], vector_of("prompt 9"))
    assert list(read_cache_file(first.path(), "fake-towers-v1", limit=2)) == ["prompt 10", "prompt 11"]
    assert read_cache_file(first.path(), "another model") == {}

    towers = FakeTowers()
    second = TextEmbeddingCache(towers, tmp_path, max_entries=3)  # a smaller process reads only 3 rows
    rows = second.embeddings(["prompt 11", "prompt 9"])
    assert len(second) == 3 and towers.calls == []
    np.testing.assert_array_equal(rows, np.stack([vector_of("prompt 11"), vector_of("prompt 9")]))


def test_a_torn_cache_file_is_only_a_miss(tmp_path):
    cache = TextEmbeddingCache(FakeTowers(), tmp_path)
    cache.embeddings(["dog", "rain"])
    data = cache.path().read_bytes()
    cache.path().write_bytes(data[: len(data) // 2])
    assert read_cache_file(cache.path(), "fake-towers-v1") == {}
    towers = FakeTowers()
    assert TextEmbeddingCache(towers, tmp_path).embeddings(["dog"]).shape == (1, DIMENSIONS)
    assert towers.calls == [["dog"]]
