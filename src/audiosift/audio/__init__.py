"""Audio input: decode anything to mono float32 at a model's rate (see :mod:`.decode`)."""

from audiosift.audio.decode import (DEFAULT_MAX_SECONDS, AudioInput, Clip, decode, describe, load_audio, load_clip,
                                    resample, to_mono)

__all__ = ["DEFAULT_MAX_SECONDS", "AudioInput", "Clip", "decode", "describe", "load_audio", "load_clip",
           "resample", "to_mono"]
