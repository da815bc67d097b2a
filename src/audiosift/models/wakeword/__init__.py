"""Pre-trained wake-word detectors that run offline, from model files inside their wheels.

- ``builtin:openwakeword[/word,...]``: openWakeWord (alexa, hey_jarvis, hey_mycroft, hey_rhasspy,
  ok_nabu), one shared melspectrogram + speech-embedding pass feeding every word's head; 80 ms
  frames; heads CC BY-NC-SA 4.0. ``builtin:openwakeword-onnx`` runs the front end on onnxruntime.
- ``builtin:microwakeword[/word,...]``: microWakeWord (alexa, hey_jarvis, hey_mycroft, okay_nabu),
  its own features and streaming models; 30 ms frames; Apache-2.0.

The runtimes (LiteRT, onnxruntime, the TensorFlow Lite C library) come with the ``wake-word`` extra
and are imported only when a model is built.
"""

from __future__ import annotations

import os

from audiosift.models.wakeword.catalog import parse_builtin

# The TensorFlow Lite runtimes print "INFO: Created TensorFlow Lite XNNPACK delegate" on stderr for
# every interpreter; keep a library quiet unless the user set a log level of their own.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build_openwakeword(request):
    """Registry build function for ``builtin:openwakeword...`` (see :mod:`audiosift.models.registry`)."""
    from audiosift.errors import UnknownModelError
    from audiosift.models.wakeword.openwakeword import OpenWakeWordBackend

    variant, words = parse_builtin(request.model_id, "openwakeword")
    if variant not in ("", "tflite", "onnx"):
        raise UnknownModelError(f"{request.model_id!r}: the openWakeWord front end runs on tflite or onnx")
    return OpenWakeWordBackend(words, frontend=variant or "tflite", model_id=request.model_id)


def build_microwakeword(request):
    """Registry build function for ``builtin:microwakeword...``."""
    from audiosift.errors import UnknownModelError
    from audiosift.models.wakeword.microwakeword import MicroWakeWordBackend

    variant, words = parse_builtin(request.model_id, "microwakeword")
    if variant:
        raise UnknownModelError(f"{request.model_id!r}: expected builtin:microwakeword[/word,...]")
    return MicroWakeWordBackend(words, model_id=request.model_id)
