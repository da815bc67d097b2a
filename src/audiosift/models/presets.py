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
    backend: str  # "transformers", "clap" or "silero"
    # Long recordings are classified window by window (audiosift.inference.windows): the window is
    # the clip length the model was trained on; the hop sets the overlap. None: no natural length.
    window_seconds: float | None = None
    hop_seconds: float | None = None


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in [
        Preset("intent", "anton-l/xtreme_s_xlsr_300m_minds14", "spoken intent (14 banking intents)",
               16000, "PolyAI/minds14 (XTREME-S, 14 locales; 8 kHz audio resampled)", "transformers"),
        Preset("keywords", "MIT/ast-finetuned-speech-commands-v2", "keyword spotting (35 words)",
               16000, "speech_commands v0.02", "transformers", window_seconds=1.0, hop_seconds=0.5),
        Preset("language", "sanchit-gandhi/whisper-medium-fleurs-lang-id",
               "spoken language identification (102 languages)", 16000, "google/fleurs", "transformers",
               window_seconds=30.0, hop_seconds=30.0),
        Preset("zero-shot", "laion/clap-htsat-unfused", "zero-shot audio classification (any labels)",
               48000, "LAION-Audio-630K (CLAP); evaluated zero-shot on ashraq/esc50", "clap",
               window_seconds=10.0, hop_seconds=5.0),
        Preset("speech", "builtin:silero-vad", "speech / no_speech (voice activity)",
               16000, "Silero VAD v6 (ships inside the silero-vad wheel; no hub needed)", "silero",
               window_seconds=1.0, hop_seconds=0.5),
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
