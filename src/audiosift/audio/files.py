"""Find audio files under the paths a user gives (files as given; folders searched recursively)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

AUDIO_EXTENSIONS = frozenset(
    ".wav .wave .flac .ogg .oga .opus .mp3 .webm .m4a .aac .mp4 .aif .aiff .au .wma .mka".split()
)


def find_audio_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files named directly are kept whatever their extension (a missing one is reported later by
    the decoder, never dropped); folders contribute their audio files, recursively, sorted."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS))
        else:
            found.append(path)
    return found
