"""audiosift: classify audio with pre-trained models.

>>> import audiosift
>>> clf = audiosift.load("keywords")          # preset, hub id, or local folder
>>> clf("clip.wav")                           # [{"label": "yes", "score": 0.97}, ...]
"""

from audiosift.api import list_models, load
from audiosift.errors import (
    AudioDecodeError,
    AudioError,
    AudiosiftError,
    AudioTooLongError,
    InvalidAudioError,
    ModelError,
    ModelUnavailableError,
    UnknownModelError,
    UnsupportedModelError,
    UsageError,
)

__version__ = "0.1.0"

__all__ = [
    "AudioDecodeError",
    "AudioError",
    "AudiosiftError",
    "AudioTooLongError",
    "InvalidAudioError",
    "ModelError",
    "ModelUnavailableError",
    "UnknownModelError",
    "UnsupportedModelError",
    "UsageError",
    "list_models",
    "load",
]
