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
from audiosift.models import registry
from audiosift.models.presets import Preset, get_preset, unknown_model_message

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
HUB_PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ModelSource:
    name: str  # what the user asked for
    model_id: str  # hub id, folder path, or builtin:...
    kind: str  # "preset", "local", "hub" or "builtin"
    backend: str | None  # a registry kind's name; None for a hub id until its config is fetched
    preset: Preset | None = None


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def resolve(name: str) -> ModelSource:
    """Say where ``name`` points, without loading anything (a mistyped folder fails here, at once)."""
    if not isinstance(name, str) or not name.strip():
        raise UnknownModelError(unknown_model_message(str(name), "empty model name"))
    preset = get_preset(name)
    if preset is not None:
        kind = "builtin" if preset.model_id.startswith("builtin:") else "preset"
        return ModelSource(name, preset.model_id, kind, preset.backend, preset)
    if name.startswith("builtin:"):
        found = registry.kind_for_builtin(name)
        if found is None:
            raise UnknownModelError(unknown_model_message(name, "no backend ships that builtin model"))
        return ModelSource(name, name, "builtin", found.name)
    path = Path(name).expanduser()
    if path.is_dir():
        found = registry.kind_for_folder(path)
        if found is None:
            raise UnknownModelError(unknown_model_message(
                name, "the folder has no config.json (or manifest) of a model audiosift can load"))
        return ModelSource(name, str(path), "local", found.name)
    if path.exists():
        raise UnknownModelError(unknown_model_message(name, "it is a file; expected a model folder"))
    if _looks_like_path(name):
        raise UnknownModelError(unknown_model_message(name, f"no folder {name!r} exists"))
    if HUB_ID.match(name):
        return ModelSource(name, name, "hub", None)
    raise UnknownModelError(unknown_model_message(name))


def _looks_like_path(name: str) -> bool:
    """``./typo``, ``../x``, ``/abs``, ``~/x``: meant as a folder, so never tried on the hub."""
    return name.startswith((".", "/", "~", "\\")) or name.count("/") > 1 or name.endswith("/") or "\\" in name


def locate(source: ModelSource, options) -> tuple[str | None, registry.BackendKind]:
    """``(folder, kind)``: where the model's files are (fetched from the hub if needed) and its kind."""
    if source.kind == "builtin":
        return None, registry.kind_named(source.backend)
    if source.kind == "local":
        return source.model_id, registry.kind_named(source.backend)
    if source.backend is None:  # a hub id: its config says which kind it is
        folder = pretrained_location(source.model_id, options.revision, options.cache_dir, ("*.json",))
        found = registry.kind_for_folder(Path(folder))
        if found is None:
            raise UnsupportedModelError(f"{source.model_id!r} has no config.json audiosift can read: "
                                        f"expected an audio-classification or CLAP model")
    else:
        found = registry.kind_named(source.backend)
    folder = pretrained_location(source.model_id, options.revision, options.cache_dir, found.download_patterns)
    return folder, found


def pretrained_location(model_id: str, revision: str | None, cache_dir: str | None,
                        patterns: tuple[str, ...] = registry.TRANSFORMERS_PATTERNS) -> str:
    """A local folder holding ``model_id`` (downloading it only if the hub is reachable)."""
    if Path(model_id).is_dir():
        return model_id
    from huggingface_hub import snapshot_download

    patterns = list(patterns)
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
