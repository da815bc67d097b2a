"""``audiosift export``: a model audiosift loads -> an ONNX folder that runs on onnxruntime alone.

How, and why this way:
- ``torch.onnx.export(..., dynamo=True)`` (onnxscript) rather than optimum: ``optimum-onnx`` pins
  transformers < 4.58, and the TorchScript exporter traced wav2vec2's masked, padded path wrongly
  (0.9 off on a mixed-length batch). The batch axis is dynamic; so is every input axis whose size
  changes with the clip's length (found by featurizing two clips of different lengths).
- Graphs take exactly the feature extractor's outputs (``input_values``/``input_features``, and
  ``attention_mask`` where the extractor returns one) and give logits; CLAP gets two graphs, the audio
  tower with its projection (unit-length embeddings) and the text tower (kept in fp32: prompts are
  encoded once and cached, so its speed hardly counts, and int8 error there would shift every label).
- ``--int8``: ONNX Runtime's dynamic quantisation of the weight matrices (``MatMul``/``Gemm`` with a
  constant weight; attention's activation-by-activation products stay fp32, where int8 costs
  accuracy for little speed), one scale per output channel: on full-size AST (12 speech clips)
  that gave logit cosine 0.99933 to fp32 against 0.99909 with one scale per matrix, at the same speed.
  The folder then ships only the int8 graph.
- The folder is written under a temporary name beside ``output`` and renamed at the end, so an
  interrupted export never leaves a folder that looks complete.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from audiosift import __version__
from audiosift.errors import ModelError, OutputError, UnsupportedModelError, UsageError
from audiosift.inference.options import RuntimeOptions
from audiosift.models import cpu_layers
from audiosift.models import onnx_fidelity as fidelity
from audiosift.models import registry
from audiosift.models.clap import HUB_SNAPSHOT, _pooled, hash_model_files
from audiosift.models.loading import locate, resolve
from audiosift.models.onnx_backend import FORMAT_VERSION, MANIFEST, OnnxClapBackend, OnnxClassifierBackend

EXPORTABLE_KINDS = ("transformers", "clap")
ONNX_CACHE_ENV = "AUDIOSIFT_ONNX_CACHE"  # where backend="onnx" keeps its exports (default ~/.cache/audiosift/onnx)
CHECK_CLIPS = 4


def export_model(model: str, output: str | os.PathLike, *, int8: bool = False, revision: str | None = None,
                 cache_dir: str | None = None, check_clips: int = CHECK_CLIPS, overwrite: bool = False,
                 report=None) -> dict:
    """Export ``model`` (a preset, hub id or folder) to ``output``; returns the manifest written there.

    ``report(line)`` gets progress and fidelity lines (the CLI prints them); ``check_clips`` is the
    number of synthetic clips fidelity is measured on (see :mod:`audiosift.models.onnx_fidelity`).
    """
    require_exporter()
    source = resolve(model)
    options = RuntimeOptions(device="cpu", dtype="float32", revision=revision, cache_dir=cache_dir)
    folder, kind = locate(source, options)
    _check_exportable(model, kind)
    output = _checked_output(Path(output).expanduser(), overwrite)
    report = report or (lambda line: None)
    report(f"loading {source.model_id} (torch, float32)")
    backend = kind.create(registry.ModelRequest(source.model_id, folder, options, source.preset))
    info = {"model_id": source.model_id, "revision": revision, "fingerprint": source_fingerprint(folder)}
    return export_backend(backend, info, output, int8=int8, check_clips=check_clips, report=report)


def require_exporter() -> None:
    """Fail before any model loads if the exporter's packages (the onnx extra) are missing."""
    import importlib.util

    # onnxruntime too: the fidelity check and int8 quantisation run on it.
    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"exporting to ONNX needs {' and '.join(missing)} (the onnx extra): "
                         f"pip install 'audiosift[onnx]'")


def _check_exportable(model: str, kind) -> None:
    if kind.name == "onnx":
        raise UsageError(f"{model!r} is already an ONNX export; load it with audiosift.load, or export its "
                         f"source model again (its manifest names it)")
    if kind.name not in EXPORTABLE_KINDS:
        raise UnsupportedModelError(
            f"{model!r} is a {kind.name} model, which audiosift does not export: expected a transformers "
            f"audio-classification model (AST, Wav2Vec2, HuBERT, WavLM, Whisper) or CLAP")


def _checked_output(output: Path, overwrite: bool) -> Path:
    if output.exists() and not output.is_dir():
        raise OutputError(f"--output {output} is a file; expected a folder for the exported model")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise OutputError(f"--output {output} is not empty: give a new folder, or --overwrite to replace it")
    if not output.parent.is_dir():
        raise OutputError(f"the folder of --output {output} does not exist: {output.parent} (create it first)")
    return output


def source_fingerprint(folder: str | os.PathLike) -> str:
    """The hub commit of a cache snapshot, else a hash of the model's weight, tokenizer and config files."""
    folder = Path(folder)
    if HUB_SNAPSHOT.match(folder.name) and folder.parent.name == "snapshots":
        return f"commit:{folder.name}"
    return f"sha256:{hash_model_files(folder)}"


def export_backend(backend, source: dict, output: Path, *, int8: bool = False, check_clips: int = CHECK_CLIPS,
                   report=lambda line: None) -> dict:
    """Export a loaded torch backend (transformers or CLAP) into ``output`` (see module docstring)."""
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.exporting-", dir=output.parent))
    try:
        started = time.monotonic()
        clap = hasattr(backend, "embed_texts")
        report(f"exporting to ONNX ({'audio and text towers' if clap else 'classifier'})")
        with cpu_layers.layers_for_export(backend.model):
            files = _export_clap(backend, staging) if clap else _export_classifier(backend, staging)
        _save_configs(backend, staging)
        manifest = _manifest(backend, source, files, clap)
        _write_manifest(staging, manifest)
        waveforms = fidelity.check_waveforms(backend, check_clips)
        exported = _load_export(staging, manifest)
        manifest["fidelity"] = {"float32_vs_source": _fidelity(backend, exported, waveforms, clap)}
        report(fidelity.format_fidelity("onnx float32 vs torch", manifest["fidelity"]["float32_vs_source"]))
        if int8:
            _quantize_into(staging, manifest, files, clap, report)
            int8_backend = _load_export(staging, manifest)
            numbers = _fidelity(exported, int8_backend, waveforms, clap)
            manifest["fidelity"]["int8_vs_float32"] = numbers
            report(fidelity.format_fidelity("int8 vs float32", numbers))
            del exported, int8_backend
            (staging / files["fp32"]).unlink()
        manifest["export"]["seconds"] = round(time.monotonic() - started, 1)
        _write_manifest(staging, manifest)
        _replace_folder(staging, output)
        return manifest
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _quantize_into(staging: Path, manifest: dict, files: dict, clap: bool, report) -> None:
    report("quantising weights to int8 (dynamic, onnxruntime)")
    role = "audio" if clap else "model"
    quantize_int8(staging / files[role], staging / "model.int8.onnx" if not clap else staging / "audio.int8.onnx")
    files["fp32"] = files[role]
    files[role] = "model.int8.onnx" if not clap else "audio.int8.onnx"
    manifest["files"] = {key: value for key, value in files.items() if key != "fp32"}
    manifest["precision"] = "int8"
    manifest["export"]["int8"] = {"method": "onnxruntime quantize_dynamic", "weights": "QInt8 per output channel",
                                  "activations": "uint8, dynamic", "ops": ["MatMul", "Gemm"],
                                  "constant_weights_only": True, "text_tower": "float32" if clap else None}
    _write_manifest(staging, manifest)


def _fidelity(reference, candidate, waveforms, clap: bool) -> dict:
    if clap:
        return fidelity.clap_fidelity(reference, candidate, waveforms)
    run_reference = reference.logits if hasattr(reference, "logits") else fidelity.torch_logits(reference)
    return fidelity.compare_logits(fidelity.classifier_logits(reference, waveforms, run_reference),
                                   fidelity.classifier_logits(candidate, waveforms, candidate.logits),
                                   reference.multi_label)


def _load_export(folder: Path, manifest: dict):
    cls = OnnxClapBackend if manifest["kind"] == "clap" else OnnxClassifierBackend
    return cls(str(folder), manifest["source"]["model_id"], json.loads((folder / MANIFEST).read_text()))


def _manifest(backend, source: dict, files: dict, clap: bool) -> dict:
    import onnxruntime
    import torch
    import transformers

    manifest = {
        "format": FORMAT_VERSION, "kind": "clap" if clap else "classifier", "precision": "float32",
        "source": source, "files": dict(files), "labels": backend.labels,
        "export": {"exporter": "torch.onnx.export(dynamo=True)", "opset": OPSET, "audiosift": __version__,
                   "torch": torch.__version__, "transformers": transformers.__version__,
                   "onnxruntime": onnxruntime.__version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    }
    if clap:
        manifest["clap"] = {"logit_scale": backend.logit_scale, "embedding_size": backend.embedding_size}
    return manifest


def _write_manifest(folder: Path, manifest: dict) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _save_configs(backend, folder: Path) -> None:
    """The source's config (labels, architecture facts), feature extractor and tokenizer, beside the graphs."""
    backend.model.config.save_pretrained(folder)
    extractor = backend.feature_extractor
    # ClapBackend swaps in a vectorised log-mel (same numbers) as an instance attribute: not a setting to save.
    vectorised = extractor.__dict__.pop("_np_extract_fbank_features", None)
    try:
        extractor.save_pretrained(folder)
    finally:
        if vectorised is not None:
            extractor._np_extract_fbank_features = vectorised
    if getattr(backend, "tokenizer", None) is not None:
        backend.tokenizer.save_pretrained(folder)


def _replace_folder(staging: Path, output: Path) -> None:
    if output.is_dir():
        shutil.rmtree(output)  # emptiness (or --overwrite) was checked before the export started
    os.replace(staging, output)


# -- the graphs -------------------------------------------------------------------------------

OPSET = 18  # the dynamo exporter's default opset in torch 2.13
ATTENTION_OPSET = 23  # the first with an Attention operator: CLAP's fused window attention exports as one
# Bumped when the graphs written change while old ones stay loadable (2: CLAP's fused attention;
# 3: CLAP's mel resized before its graph), so the backend="onnx" cache re-exports instead of reusing
# a slower graph; FORMAT_VERSION is for folders this version cannot read.
EXPORTER_REVISION = 3


def _export_classifier(backend, folder: Path) -> dict:
    import torch

    short, long = sorted(fidelity.check_waveforms(backend, 2), key=len)
    features = [backend.featurize(short), backend.featurize(long)]
    names = list(features[0])
    varying = {key: [axis for axis in range(features[0][key].ndim)
                     if features[0][key].shape[axis] != features[1][key].shape[axis]] for key in names}
    # Two copies of the longer clip: a batch of two, so neither axis is specialised to size 1.
    example = {key: np.concatenate([features[1][key]] * 2) for key in names}
    wrapper = _wrappers()["logits_with_mask" if "attention_mask" in names else "logits"](backend.model)
    order = ["input_values" if "input_values" in names else "input_features"] + \
        (["attention_mask"] if "attention_mask" in names else [])
    if sorted(order) != sorted(names):
        raise UnsupportedModelError(f"{backend.model_id!r}: its feature extractor gives {names}; the exporter "
                                    f"handles input_values/input_features and attention_mask")
    dynamic = {key: {axis: torch.export.Dim.DYNAMIC for axis in [0, *varying[key]]} for key in order}
    arguments = tuple(torch.from_numpy(_as_model_input(example[key])) for key in order)
    _export_graph(wrapper, arguments, order, dynamic, folder / "model.onnx", backend.model_id)
    return {"model": "model.onnx"}


def _export_clap(backend, folder: Path) -> dict:
    import torch

    window = backend.featurize_window(fidelity.speech_like(3.0, backend.sampling_rate, 0))
    audio = (torch.from_numpy(np.concatenate([window["input_features"]] * 2)),
             torch.from_numpy(np.concatenate([window["is_longer"]] * 2)))
    batch = {0: torch.export.Dim.DYNAMIC}
    opset = ATTENTION_OPSET if cpu_layers.exports_fused_attention(backend.model) else OPSET
    _export_graph(_wrappers()["clap_audio"](backend.model), audio, ["input_features", "is_longer"],
                  {"input_features": batch, "is_longer": batch}, folder / "audio.onnx", backend.model_id, opset)
    tokens = backend.tokenizer(["This is a sound of dog.", "rain"], padding=True, return_tensors="np")
    text = tuple(torch.from_numpy(tokens[key].astype(np.int64)) for key in ("input_ids", "attention_mask"))
    axes = {0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC}
    _export_graph(_wrappers()["clap_text"](backend.model), text, ["input_ids", "attention_mask"],
                  {"input_ids": axes, "attention_mask": axes}, folder / "text.onnx", backend.model_id)
    return {"audio": "audio.onnx", "text": "text.onnx"}


def _as_model_input(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array.astype(np.int64) if array.dtype.kind in "iub" else array.astype(np.float32))


def _export_graph(module, arguments: tuple, names: list[str], dynamic: dict, path: Path, model_id: str,
                  opset: int = OPSET) -> None:
    import torch

    chatter = io.StringIO()  # the exporter prints its steps; shown only if it fails
    try:
        with _quiet(chatter), torch.no_grad():
            torch.onnx.export(module.eval(), arguments, str(path), input_names=names, output_names=["output"],
                              dynamic_shapes=tuple(dynamic[name] for name in names), dynamo=True, external_data=False, opset_version=opset,
                              # onnxscript's graph optimiser doubled export time for nothing: ORT optimises
                              # at load, and on full-size AST fp32 and int8 ran at the same speed either way.
                              optimize=False)
    except Exception as error:  # noqa: BLE001 - any exporter failure: say which model and why
        raise ModelError(f"{model_id!r} could not be exported to ONNX ({type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''}); exporter log:\n"
                         f"{chatter.getvalue()[-2000:]}") from error


@contextlib.contextmanager
def _quiet(chatter: io.StringIO):
    """The exporter's and quantiser's step logs, deprecation warnings and notes into ``chatter``: a user
    sees the export's own progress and fidelity lines (process-wide logging is muted meanwhile)."""
    import onnxruntime

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    onnxruntime.set_default_logger_severity(3)  # the quantiser's sessions: no optimiser notes on stderr
    try:
        with contextlib.redirect_stdout(chatter), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)
        onnxruntime.set_default_logger_severity(2)  # onnxruntime's default: warnings


@functools.cache
def _wrappers() -> dict:
    """The torch modules that export sees, made on first use (torch is imported only to export)."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model
            self.key = "input_features" if "Whisper" in type(model).__name__ else "input_values"

        def forward(self, inputs):
            return self.model(**{self.key: inputs}).logits

    class LogitsWithMask(Logits):
        def forward(self, inputs, attention_mask):
            return self.model(**{self.key: inputs, "attention_mask": attention_mask}).logits

    class ClapAudio(Logits):
        def forward(self, input_features, is_longer):
            return _pooled(self.model.get_audio_features(input_features=input_features, is_longer=is_longer))

    class ClapText(Logits):
        def forward(self, input_ids, attention_mask):
            return _pooled(self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask))

    return {"logits": Logits, "logits_with_mask": LogitsWithMask, "clap_audio": ClapAudio, "clap_text": ClapText}


def quantize_int8(fp32_path: Path, int8_path: Path) -> None:
    """Dynamic int8 weights (see module docstring), after onnxruntime's recommended pre-processing."""
    prepared = int8_path.with_suffix(".pre.onnx")
    with _quiet(io.StringIO()):
        _quantize_steps(fp32_path, prepared, int8_path)


def _quantize_steps(fp32_path: Path, prepared: Path, int8_path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    # ONNX's own shape inference only: onnxruntime's symbolic one fails on HuBERT's conv lengths, and
    # then writes its partial model into the current folder (sym_shape_infer_temp.onnx).
    quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
    try:
        quantize_dynamic(str(prepared), str(int8_path), weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Gemm"], per_channel=True,
                         extra_options={"MatMulConstBOnly": True})
    finally:
        prepared.unlink(missing_ok=True)


# -- backend="onnx": one export per source model, reused ---------------------------------------

def onnx_cache_root() -> Path:
    configured = os.environ.get(ONNX_CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "audiosift" / "onnx"


def cached_export(source, folder: str | None, kind, options, report=None) -> Path:
    """The export of ``source`` for ``options`` (float32, or int8 for ``dtype="int8"``), made on first use.

    Keyed by the source's fingerprint (hub commit or file hash) and the precision, so a changed model
    gets a new export and an unchanged one is exported once, whatever name or path loaded it.
    """
    _check_exportable(source.name, kind)
    int8 = options.dtype == "int8"
    fingerprint = source_fingerprint(folder)
    key = hashlib.sha256(f"{fingerprint}|{'int8' if int8 else 'float32'}|format {FORMAT_VERSION}|"
                         f"exporter {EXPORTER_REVISION}".encode())
    target = onnx_cache_root() / key.hexdigest()[:32]
    if (target / MANIFEST).is_file():
        return target
    require_exporter()
    target.parent.mkdir(parents=True, exist_ok=True)
    torch_options = RuntimeOptions(device="cpu", dtype="float32", revision=options.revision, cache_dir=options.cache_dir)
    backend = kind.create(registry.ModelRequest(source.model_id, folder, torch_options, source.preset))
    info = {"model_id": source.model_id, "revision": options.revision, "fingerprint": fingerprint}
    try:
        export_backend(backend, info, target, int8=int8, report=report or (lambda line: None))
    except OSError:
        if not (target / MANIFEST).is_file():  # not another process finishing the same export first
            raise
    return target
