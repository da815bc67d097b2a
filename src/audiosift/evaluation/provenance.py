"""Where an evaluation's numbers came from: written into metrics.json and report.md so a result
found months later still says which code, model, data, command and machine made it."""

from __future__ import annotations

import datetime
import platform
import re
import shlex
import sys
from pathlib import Path
from typing import Any

HUB_COMMIT = re.compile(r"^[0-9a-f]{40}$")  # .../snapshots/<commit>/ in a Hugging Face cache


def provenance(*, model: Any, classifier: Any, files_fingerprint: str | None, revision: str | None,
               opened: Any, selection: dict, command: str | None, engine: str, dtype: str) -> dict:
    """A JSON-ready record of the audiosift version, model, dataset selection, command, date and machine."""
    from audiosift import __version__

    backend = getattr(classifier, "backend", None)
    return {
        "audiosift_version": __version__,
        "model": {"name": model if isinstance(model, str) else getattr(classifier, "name", None),
                  "model_id": getattr(classifier, "model_id", None), "revision": revision,
                  "commit": _hub_commit(backend),
                  # a local folder's names, sizes and times: a model retrained in place gets a new one
                  "files_fingerprint": files_fingerprint},
        "dataset": {"name": opened.name, "source": opened.info, "selection": selection},
        "command": command if command is not None else f"evaluate() from Python ({shlex.join(sys.argv[:1])})",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"device": str(getattr(backend, "device", "unknown")), "dtype": dtype,
                    "backend": type(backend).__name__ if backend is not None else None, "engine": engine,
                    "host": platform.node(), "platform": platform.platform(),
                    "python": platform.python_version(), "torch": _torch_version()},
    }


def _hub_commit(backend: Any) -> str | None:
    """The hub commit a model was loaded from, when its folder is a cache snapshot (which pins every file)."""
    model = getattr(backend, "model", None)
    location = getattr(getattr(model, "config", None), "_name_or_path", None) or getattr(backend, "location", None)
    if not location:
        return None
    folder = Path(str(location))
    return folder.name if HUB_COMMIT.match(folder.name) and folder.parent.name == "snapshots" else None


def _torch_version() -> str | None:
    torch = sys.modules.get("torch")  # loaded with the model, if the backend uses it; never imported for this
    return getattr(torch, "__version__", None)


def provenance_lines(record: dict) -> list[str]:
    """report.md's provenance section."""
    model, dataset, machine = record["model"], record["dataset"], record["machine"]
    pinned = ", ".join(f"{key} `{model[key]}`" for key in ("revision", "commit", "files_fingerprint") if model[key])
    chosen = dict(dataset["selection"])
    if not chosen.get("shuffle"):  # the seed and buffer of a shuffle not made would mislead
        chosen.pop("seed", None), chosen.pop("shuffle_buffer", None)
    selection = ", ".join(f"{key}={value}" for key, value in chosen.items()
                          if value not in (None, False, [], ())) or "every example"
    return ["", "## Provenance", "",
            f"- audiosift {record['audiosift_version']}",
            f"- model: `{model['name']}` (model id `{model['model_id']}`"
            f"{'; ' + pinned if pinned else '; not pinned: no revision, commit or local files'})",
            f"- dataset: `{dataset['name']}`, selection: {selection}",
            f"- command: `{record['command']}`",
            f"- date: {record['date']}",
            f"- machine: device {machine['device']}, dtype {machine['dtype']}, backend {machine['backend']}, "
            f"engine {machine['engine']}; {machine['host']} ({machine['platform']}, Python {machine['python']}"
            f"{', torch ' + machine['torch'] if machine['torch'] else ''})"]
