"""Find audio files under the paths a user gives (files as given; folders searched recursively)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

AUDIO_EXTENSIONS = frozenset(
    ".wav .wave .flac .ogg .oga .opus .mp3 .webm .m4a .aac .mp4 .aif .aiff .au .wma .mka".split()
)
COMMON_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".m4a")  # named in the "no audio files" message


def find_audio_files(paths: Iterable[str | os.PathLike], report: Callable[[str], None] | None = None) -> list[Path]:
    """Files named directly are kept whatever their extension (a missing one is reported later by
    the decoder, never dropped); folders contribute their audio files, recursively, sorted.

    A named folder with no audio files, or a folder that cannot be listed (permission denied), is
    reported through ``report`` (default: a warning) rather than skipped without a word.
    """
    report = report or _warn
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            found.append(path)
            continue
        unreadable: list[str] = []
        files = _audio_files_under(path, unreadable)
        for folder in unreadable:
            report(f"cannot read folder {folder} (permission denied or gone): its files are skipped")
        if not files and str(path) not in unreadable:
            report(f"folder {path} has no audio files (searched recursively for {', '.join(COMMON_EXTENSIONS)}, ...)")
        found.extend(files)
    return found


def _audio_files_under(folder: Path, unreadable: list[str]) -> list[Path]:
    # os.walk, not Path.rglob: rglob silently ignores folders it may not list.
    files = []
    for root, _dirs, names in os.walk(folder, onerror=lambda error: unreadable.append(str(error.filename))):
        files.extend(Path(root) / name for name in names if Path(name).suffix.lower() in AUDIO_EXTENSIONS)
    return sorted(p for p in files if p.is_file())


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)
