"""The confusion plot stays legible as classes grow; the CSV matches the matrix."""

from __future__ import annotations

import csv

from PIL import Image

from audiosift.evaluation.metrics import scored_arrays
from audiosift.evaluation.report import CELL_INCHES, plot_confusion, write_confusion_csv


def scored_for(count: int):
    labels = [f"label_number_{i}" for i in range(count)]
    pairs = [(label, [labels[(i + (n % 3 == 0)) % count]]) for i, label in enumerate(labels) for n in range(3)]
    return scored_arrays(pairs, labels)


def test_plot_grows_with_the_class_count(tmp_path):
    sizes = {}
    for count in (5, 40):
        path = tmp_path / f"confusion_{count}.png"
        plot_confusion(path, scored_for(count), f"{count} classes")
        with Image.open(path) as image:
            sizes[count] = image.size
    dpi = 110
    for count in (40,):  # every class keeps at least CELL_INCHES of height for its tick label
        assert sizes[count][1] >= count * CELL_INCHES * dpi
    assert sizes[5][0] < sizes[40][0]


def test_confusion_csv(tmp_path):
    scored = scored_arrays([("a", ["a"]), ("a", ["b"]), ("b", ["b"])], ["a", "b"])
    write_confusion_csv(tmp_path / "c.csv", scored)
    with open(tmp_path / "c.csv", newline="") as handle:
        assert list(csv.reader(handle)) == [["true \\ predicted", "a", "b"], ["a", "1", "1"], ["b", "0", "1"]]


def test_provenance_names_the_hub_commit_of_a_cached_snapshot(tmp_path):
    from types import SimpleNamespace

    from audiosift.evaluation.provenance import provenance, provenance_lines

    commit = "a" * 40
    snapshot = tmp_path / "models--MIT--ast" / "snapshots" / commit
    backend = SimpleNamespace(model=SimpleNamespace(config=SimpleNamespace(_name_or_path=str(snapshot))),
                              device="cuda:0")
    classifier = SimpleNamespace(backend=backend, model_id="MIT/ast", name="keywords")
    opened = SimpleNamespace(name="speech_commands", info={"kind": "hub"})
    origin = provenance(model="keywords", classifier=classifier, files_fingerprint=None, revision="v2",
                        opened=opened, selection={"split": "test", "limit": 100, "shuffle": False, "seed": 0},
                        command="audiosift evaluate -m keywords", engine="local", dtype="float16")
    assert origin["model"] == {"name": "keywords", "model_id": "MIT/ast", "revision": "v2", "commit": commit,
                               "files_fingerprint": None}
    assert origin["machine"]["device"] == "cuda:0" and origin["machine"]["dtype"] == "float16"
    assert origin["machine"]["backend"] == "SimpleNamespace"
    text = "\n".join(provenance_lines(origin))
    assert f"revision `v2`, commit `{commit}`" in text and "selection: split=test, limit=100" in text
    assert "seed" not in text  # no shuffle: its seed would mislead
    backend.model.config._name_or_path = str(tmp_path / "my-model")  # a plain folder: no commit to name
    assert provenance(model="x", classifier=classifier, files_fingerprint="f" * 16, revision=None, opened=opened,
                      selection={}, command=None, engine="local", dtype="float32")["model"]["commit"] is None
