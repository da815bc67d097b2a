"""One hierarchy of typed errors.

Every error a user can cause derives from :class:`AudiosiftError`, so a batch job can catch that
one class, record the message against the bad item and carry on. Messages say what was expected
and the likely cause.
"""

from __future__ import annotations


class AudiosiftError(Exception):
    """Base class of every error audiosift raises on purpose."""


class AudioError(AudiosiftError):
    """Something is wrong with an audio input."""


class AudioDecodeError(AudioError):
    """A file or byte string could not be decoded as audio (missing, not audio, truncated)."""


class InvalidAudioError(AudioError, ValueError):
    """Decoded audio (or an array given directly) is unusable: empty, NaN/inf, wrong shape, no rate."""


class AudioTooLongError(InvalidAudioError):
    """Audio is longer than a limit (the model's maximum duration, or a server's upload limit)."""


class UsageError(AudiosiftError, ValueError):
    """An argument or option is wrong (a bad value, a missing label set, an option that does not apply).

    The CLI reports these with exit code 2, like argparse's own usage errors.
    """


class OutputError(AudiosiftError):
    """An output cannot be written where asked (missing folder, a folder given for a file, an input)."""


class ModelError(AudiosiftError):
    """A model could not be found, loaded or used."""


class UnknownModelError(ModelError, LookupError):
    """The name is neither a preset, an existing local folder, nor a hub id we can reach."""


class ModelUnavailableError(ModelError):
    """A hub model is not in the local cache and the hub cannot be reached (or offline mode is on)."""


class UnsupportedModelError(ModelError):
    """The model exists but is not an architecture or task audiosift can run."""


class DatasetError(AudiosiftError):
    """A dataset could not be opened or does not have the columns asked for."""


class LabelMappingError(AudiosiftError):
    """Dataset labels cannot be mapped onto the model's labels."""
