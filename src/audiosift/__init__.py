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
    InvalidAudioError,
    ModelError,
    ModelUnavailableError,
    UnknownModelError,
    UnsupportedModelError,
)

__version__ = "0.1.0"

__all__ = [
    "AudioDecodeError",
    "AudioError",
    "AudiosiftError",
    "InvalidAudioError",
    "ModelError",
    "ModelUnavailableError",
    "UnknownModelError",
    "UnsupportedModelError",
    "list_models",
    "load",
]
