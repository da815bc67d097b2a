"""Every backend kind, registered in one place: how to recognise its models, which files to fetch
from a hub, and how to build it. ``audiosift.load`` consults only this table.

A kind's ``build`` is named as ``"module:function"`` and imported only when that kind is loaded, so
heavy runtimes (onnxruntime, LiteRT) stay out of the import of audiosift. Recognising a local folder
reads only small files (``config.json``, a manifest), never the runtime.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiosift.errors import UnknownModelError, UnsupportedModelError

# What a transformers model folder needs: configs, safetensors weights, tokenizer files.
TRANSFORMERS_PATTERNS = ("*.json", "*.safetensors", "*.txt", "*.model", "vocab.*", "merges.txt")


@dataclass(frozen=True)
class ModelRequest:
    """What ``build`` gets: the id as the user gave it, where its files are, and the runtime options."""

    model_id: str  # hub id, or builtin:..., or the folder as given
    location: str | None  # a local folder holding the model's files (None for builtin models)
    options: Any  # audiosift.inference.options.RuntimeOptions
    preset: Any = None  # the Preset it was named by, if any


@dataclass(frozen=True)
class BackendKind:
    name: str
    build: str  # "module:function", function(ModelRequest) -> ClipBackend
    recognizes: Callable[[Path], bool] = lambda folder: False  # a local folder of this kind?
    builtin_prefix: str | None = None  # model ids "builtin:<prefix>..." this kind ships
    download_patterns: tuple[str, ...] = TRANSFORMERS_PATTERNS
    extra: str | None = None  # the pip extra that brings its runtime, for error messages
    requires: tuple[str, ...] = ()  # modules its runtime needs, checked before building (torch is optional)
    detector: bool = False  # its models fire events on a stream (wake words): classify reports detections

    def missing(self) -> list[str]:
        """The modules of ``requires`` that are not installed (looked up, not imported)."""
        return [name for name in self.requires if importlib.util.find_spec(name) is None]

    def create(self, request: ModelRequest):
        module_name, function_name = self.build.split(":")
        missing = self.missing()
        if missing:
            raise UnsupportedModelError(self._not_installed(request, missing[0]))
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise UnsupportedModelError(self._not_installed(request, error.name or error)) from error
        return getattr(module, function_name)(request)

    def _not_installed(self, request: ModelRequest, what) -> str:
        hint = f": pip install 'audiosift[{self.extra}]'" if self.extra else ""
        return f"{request.model_id!r} needs the {self.name} runtime, which is not installed ({what}){hint}"


def config_model_type(folder: Path) -> str | None:
    """``model_type`` from a folder's config.json (None when there is no readable config)."""
    try:
        return json.loads((folder / "config.json").read_text()).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None


def _is_clap(folder: Path) -> bool:
    return config_model_type(folder) == "clap"


def _is_onnx_export(folder: Path) -> bool:
    """An ``audiosift export`` folder: its manifest (``onnx_backend.MANIFEST``) beside the source's config."""
    return (folder / "audiosift-onnx.json").is_file()


def _is_transformers(folder: Path) -> bool:
    model_type = config_model_type(folder)
    return model_type is not None and model_type != "clap"


def _is_keyword_folder(folder: Path) -> bool:
    # The same test as audiosift.models.wakeword.keyword.is_keyword_folder, kept here so recognising
    # a folder imports no runtime.
    return (folder / "keyword.json").is_file()


_KINDS: list[BackendKind] = []


def register(kind: BackendKind) -> None:
    """Add a kind (replacing one of the same name). Earlier kinds are asked first."""
    global _KINDS
    _KINDS = [existing for existing in _KINDS if existing.name != kind.name] + [kind]


def kinds() -> list[BackendKind]:
    return list(_KINDS)


def kind_named(name: str) -> BackendKind:
    for kind in _KINDS:
        if kind.name == name:
            return kind
    raise UnknownModelError(f"no backend kind {name!r}; known: {', '.join(k.name for k in _KINDS)}")


def kind_for_builtin(model_id: str) -> BackendKind | None:
    rest = model_id.removeprefix("builtin:")
    for kind in _KINDS:
        if kind.builtin_prefix and rest.startswith(kind.builtin_prefix):
            return kind
    return None


def names_a_detector(name: str) -> bool:
    """Whether the model ``name`` (a preset or id) is of a detector kind, without loading it."""
    from audiosift.models.loading import resolve

    try:
        source = resolve(name)
    except Exception:  # noqa: BLE001 - not resolvable here: load() will say why, with its own message
        return False
    return source.backend is not None and kind_named(source.backend).detector


def kind_for_folder(folder: Path) -> BackendKind | None:
    for kind in _KINDS:
        if kind.recognizes(folder):
            return kind
    return None


for _kind in (
    # First: an export folder also holds the source model's config.json.
    BackendKind("onnx", "audiosift.models.onnx_backend:build", _is_onnx_export,
                download_patterns=("*.json", "*.onnx", "*.onnx.data", "*.txt", "vocab*", "merges.txt"), extra="onnx"),
    BackendKind("clap", "audiosift.models.clap:build", _is_clap, extra="torch,zero-shot",
                requires=("torch", "tokenizers")),
    BackendKind("transformers", "audiosift.models.transformers_backend:build", _is_transformers, extra="torch",
                requires=("torch",)),
    BackendKind("silero", "audiosift.models.silero:build", builtin_prefix="silero-vad", download_patterns=(),
                extra="torch", requires=("silero_vad",)),
    # Wake words: model files inside the wheels of the wake-word extra (see audiosift.models.wakeword).
    # The heads' wheels are required; the runtime (LiteRT or onnxruntime) is checked when it loads.
    BackendKind("openwakeword", "audiosift.models.wakeword:build_openwakeword", builtin_prefix="openwakeword",
                download_patterns=(), extra="wake-word", detector=True, requires=("wyoming_openwakeword",)),
    BackendKind("microwakeword", "audiosift.models.wakeword:build_microwakeword", builtin_prefix="microwakeword",
                download_patterns=(), extra="wake-word", detector=True, requires=("pymicro_wakeword",)),
    # A keyword trained by `audiosift train-keyword`: a folder with keyword.json + head.npz.
    BackendKind("keyword", "audiosift.models.wakeword.keyword:build_keyword", _is_keyword_folder,
                download_patterns=("keyword.json", "head.npz"), extra="wake-word", detector=True),
):
    register(_kind)
