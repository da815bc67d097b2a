"""Find a model (preset, local folder, or hub id) and load it, never with ``trust_remote_code``.

Hub ids are looked up in the local HF cache first. Only when that misses do we touch the network,
with a short timeout, so a machine without a hub fails in seconds with a message that says how to
pre-download the model or point at a local folder. ``HF_HUB_OFFLINE=1`` skips the network entirely.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from audiosift.errors import ModelUnavailableError, UnknownModelError, UnsupportedModelError
from audiosift.models.presets import Preset, get_preset, unknown_model_message

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
HUB_PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ModelSource:
    name: str  # what the user asked for
    model_id: str  # hub id, folder path, or builtin:...
    kind: str  # "preset", "local" or "hub"
    backend: str  # "transformers", "clap" or "silero"
    preset: Preset | None = None


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def resolve(name: str) -> ModelSource:
    """Say where ``name`` points, without loading anything."""
    preset = get_preset(name)
    if preset is not None:
        return ModelSource(name, preset.model_id, "preset", preset.backend, preset)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UnknownModelError(unknown_model_message(name, "the folder has no config.json"))
        return ModelSource(name, str(path), "local", _backend_of_config(path / "config.json"))
    if HUB_ID.match(name) and not path.exists():
        return ModelSource(name, name, "hub", "auto")
    raise UnknownModelError(unknown_model_message(name))


def _backend_of_config(config_path: Path) -> str:
    import json

    model_type = json.loads(config_path.read_text()).get("model_type")
    return "clap" if model_type == "clap" else "transformers"


def pretrained_location(model_id: str, revision: str | None, cache_dir: str | None) -> str:
    """A local folder holding ``model_id`` (downloading it only if the hub is reachable)."""
    if Path(model_id).is_dir():
        return model_id
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "vocab.*"]
    try:
        return snapshot_download(model_id, revision=revision, cache_dir=cache_dir,
                                 allow_patterns=patterns, local_files_only=True)
    except (OSError, ValueError):  # LocalEntryNotFoundError and friends: not (fully) cached; go on below
        pass
    _cached_snapshot_or_fail(model_id, revision)
    if _has_no_safetensors(model_id, revision):  # safetensors preferred; pickles only as a last resort
        patterns.append("pytorch_model.bin")
    return snapshot_download(model_id, revision=revision, cache_dir=cache_dir, allow_patterns=patterns)


def _unavailable_message(model_id: str, why: str) -> str:
    return (
        f"model {model_id!r} is not in the local Hugging Face cache and {why}. "
        f"Pre-download it on a machine with network access (`hf download {model_id}`, then copy the "
        f"cache, or set HF_HOME to it), or pass --model /path/to/a/local/folder saved with save_pretrained"
    )


def _cached_snapshot_or_fail(model_id: str, revision: str | None) -> None:
    if hub_offline():
        raise ModelUnavailableError(_unavailable_message(model_id, "HF_HUB_OFFLINE is set"))
    from huggingface_hub import model_info
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        model_info(model_id, revision=revision, timeout=HUB_PROBE_TIMEOUT_S)
    except (RepositoryNotFoundError, RevisionNotFoundError) as error:
        raise UnknownModelError(unknown_model_message(model_id, "no such model on the hub")) from error
    except Exception as error:  # noqa: BLE001 - DNS, TLS, proxy, timeout: all mean "cannot reach"
        raise ModelUnavailableError(
            _unavailable_message(model_id, f"the hub cannot be reached ({type(error).__name__}: {error})")
        ) from error


def _has_no_safetensors(model_id: str, revision: str | None) -> bool:
    from huggingface_hub import list_repo_files

    files = list_repo_files(model_id, revision=revision)
    return not any(name.endswith(".safetensors") for name in files)


def load_transformers_parts(location: str, model_id: str):
    """``(feature_extractor, model)`` from a local folder; unsupported architectures say so."""
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification

    config = AutoConfig.from_pretrained(location, trust_remote_code=False)
    try:
        model = AutoModelForAudioClassification.from_pretrained(location, trust_remote_code=False)
    except ValueError as error:
        raise UnsupportedModelError(
            f"{model_id!r} is a {config.model_type!r} model, which transformers has no "
            f"audio-classification head for; expected e.g. AST, Wav2Vec2, HuBERT, WavLM or Whisper"
        ) from error
    feature_extractor = AutoFeatureExtractor.from_pretrained(location, trust_remote_code=False)
    return feature_extractor, model
