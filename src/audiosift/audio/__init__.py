"""Audio input: decode anything to mono float32 at a model's rate (see :mod:`.decode`)."""

from audiosift.audio.decode import AudioInput, decode, describe, load_audio, resample, to_mono

__all__ = ["AudioInput", "decode", "describe", "load_audio", "resample", "to_mono"]
