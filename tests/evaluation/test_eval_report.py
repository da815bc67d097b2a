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
