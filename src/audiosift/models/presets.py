"""Named presets: the seed's four pre-trained models plus an offline speech detector."""

from __future__ import annotations

from dataclasses import dataclass

from audiosift.errors import UnknownModelError


@dataclass(frozen=True)
class Preset:
    name: str
    model_id: str  # hub id, or "builtin:..." for models shipped inside a Python package
    task: str
    sampling_rate: int
    trained_on: str
    backend: str  # a kind in audiosift.models.registry ("transformers", "clap", "silero", ...)
    licence: str = ""  # the model's licence where it is not the usual permissive one (shown by `audiosift models`)
    # Window, hop and input length are facts of the loaded model (its backend), not of the name it
    # was loaded by: the same model by path or by preset classifies long audio the same way.


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in [
        Preset("intent", "anton-l/xtreme_s_xlsr_300m_minds14", "spoken intent (14 banking intents)",
               16000, "PolyAI/minds14 (XTREME-S, 14 locales; 8 kHz audio resampled)", "transformers"),
        Preset("keywords", "MIT/ast-finetuned-speech-commands-v2", "keyword spotting (35 words)",
               16000, "speech_commands v0.02", "transformers"),
        Preset("language", "sanchit-gandhi/whisper-medium-fleurs-lang-id",
               "spoken language identification (102 languages)", 16000, "google/fleurs", "transformers"),
        Preset("zero-shot", "laion/clap-htsat-unfused", "zero-shot audio classification (any labels)",
               48000, "LAION-Audio-630K (CLAP); evaluated zero-shot on ashraq/esc50", "clap"),
        Preset("speech", "builtin:silero-vad", "speech / no_speech (voice activity)",
               16000, "Silero VAD v6 (ships inside the silero-vad wheel; no hub needed)", "silero"),
        # Wake words (the wake-word extra): openWakeWord has every bundled word, so `wake-word` is one
        # shared front end feeding its five heads; microWakeWord is the other engine, by model id.
        Preset("wake-word", "builtin:openwakeword",
               "wake words: alexa, hey jarvis, hey mycroft, hey rhasspy, ok nabu (openWakeWord)", 16000,
               "openWakeWord's synthetic-speech training (ships in wyoming-openwakeword)", "openwakeword",
               licence="CC BY-NC-SA 4.0 (non-commercial); front end Apache-2.0"),
        Preset("wake-word-micro", "builtin:microwakeword",
               "wake words: alexa, hey jarvis, hey mycroft, okay nabu (microWakeWord)", 16000,
               "microWakeWord's training (ships in pymicro-wakeword)", "microwakeword", licence="Apache-2.0"),
    ]
}


def get_preset(name: str) -> Preset | None:
    return PRESETS.get(name)


def unknown_model_message(name: str, detail: str = "") -> str:
    names = ", ".join(PRESETS)
    why = f" ({detail})" if detail else ""
    return (
        f"unknown model {name!r}{why}: expected a preset ({names}), a hub id such as "
        f"'MIT/ast-finetuned-speech-commands-v2', or a local folder saved with save_pretrained"
    )


def require_preset(name: str) -> Preset:
    preset = get_preset(name)
    if preset is None:
        raise UnknownModelError(unknown_model_message(name))
    return preset
