"""Dataset labels -> model labels by name: exact, normalised, label map; unmapped listed up front."""

from __future__ import annotations

import json

import pytest

from audiosift.errors import LabelMappingError
from audiosift.evaluation.labels import LabelMapper, normalise, read_label_map

MODEL = ["yes", "no", "Sea waves", "door_wood_knock", "marvin"]


def test_exact_then_normalised():
    mapper = LabelMapper(MODEL)
    assert mapper.resolve("yes") == ("yes", "exact")
    assert mapper.resolve("sea_waves") == ("Sea waves", "normalised")
    assert mapper.resolve("Door-Wood  Knock") == ("door_wood_knock", "normalised")
    assert mapper.resolve("_silence_") == (None, "unmapped")
    assert normalise("  Sea__Waves-") == "sea waves"


def test_every_unmapped_label_is_listed_in_one_error():
    mapper = LabelMapper(MODEL)
    with pytest.raises(LabelMappingError) as error:
        mapper.check(["yes", "_silence_", "_unknown_", "marvn"])
    message = str(error.value)
    assert "3 dataset label(s)" in message
    assert "'_silence_'" in message and "'_unknown_'" in message and "'marvn' (closest: 'marvin')" in message
    assert "--label-map" in message and "--allow-unmapped" in message


def test_allow_unmapped_only_counts_them():
    mapper = LabelMapper(MODEL, allow_unmapped=True)
    mapper.check(["_silence_"])
    assert mapper.target("_silence_") is None
    assert mapper.summary()["unmapped"] == ["_silence_"]


@pytest.mark.parametrize("kind", ["json", "csv", "tsv"])
def test_label_map_files(tmp_path, kind):
    if kind == "json":
        path = tmp_path / "map.json"
        path.write_text(json.dumps({"affirmative": "yes", "_silence_": None, "ocean": "sea waves"}))
    else:
        sep = "," if kind == "csv" else "\t"
        path = tmp_path / f"map.{kind}"
        path.write_text(f"dataset_label{sep}model_label\n# a comment\naffirmative{sep}yes\n_silence_{sep}\n"
                        f"ocean{sep}sea waves\n")
    mapper = LabelMapper(MODEL, read_label_map(path))
    assert mapper.resolve("affirmative") == ("yes", "label map")
    assert mapper.resolve("ocean") == ("Sea waves", "label map")  # the target may be written loosely
    assert mapper.resolve("_silence_") == (None, "excluded")
    mapper.check(["affirmative", "_silence_", "ocean"])  # excluded on purpose: no error
    summary = mapper.summary()
    assert summary["label_map"] == {"affirmative": "yes", "ocean": "Sea waves"} and summary["excluded"] == ["_silence_"]


def test_label_map_target_must_be_a_model_label(tmp_path):
    with pytest.raises(LabelMappingError, match="no label 'noo'.*closest: 'no'"):
        LabelMapper(MODEL, {"nope": "noo"})


def test_label_map_contradicting_an_automatic_match_is_an_error():
    mapper = LabelMapper(MODEL, {"yes": "no"})
    with pytest.raises(LabelMappingError, match="already matches the model label 'yes'"):
        mapper.resolve("yes")
    assert LabelMapper(MODEL, {"yes": "yes"}).resolve("yes") == ("yes", "exact")  # agreeing is fine


def test_ambiguous_normalised_match_is_not_guessed():
    mapper = LabelMapper(["Dog", "dog "])
    assert mapper.resolve("DOG") == (None, "unmapped")
    assert LabelMapper(["Dog", "dog "], {"DOG": "Dog"}).resolve("DOG") == ("Dog", "label map")


def test_bad_label_map_files(tmp_path):
    (tmp_path / "m.json").write_text("[1, 2]")
    with pytest.raises(LabelMappingError, match="JSON object"):
        read_label_map(tmp_path / "m.json")
    (tmp_path / "m.csv").write_text("a,b,c\n")
    with pytest.raises(LabelMappingError, match="two cells"):
        read_label_map(tmp_path / "m.csv")
    with pytest.raises(LabelMappingError, match="cannot read"):
        read_label_map(tmp_path / "absent.json")
