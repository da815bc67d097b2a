"""``audiosift evaluate``: the CLI over audiosift.evaluation.evaluate."""

from __future__ import annotations

import json

import pytest

from audiosift.cli.main import main
from dataset_factory import fixture_datasets, isolated_datasets_cache  # noqa: F401 - fixtures


def test_evaluate_a_class_folder(tmp_path, capsys, fixture_datasets, ast_model):
    output = tmp_path / "run"
    code = main(["evaluate", "--model", str(ast_model), "--dataset", str(fixture_datasets["speech_commands"].folder),
                 "--allow-unmapped", "--limit", "6", "--shuffle", "--seed", "1", "--batch-size", "2",
                 "--output", str(output), "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["n"] == 6 and f"examples 6: scored {metrics['scored']}" in out and "accuracy" in out
    for name in ("predictions.jsonl", "confusion.csv", "confusion.png", "report.md"):
        assert (output / name).exists()
    selection = json.loads((output / "run.json").read_text())["selection"]
    assert selection["limit"] == 6 and selection["shuffle"] is True and selection["seed"] == 1
    origin = metrics["provenance"]  # the command as typed, for whoever reads the report later
    assert origin["command"].startswith(f"audiosift evaluate --model {ast_model} --dataset ")
    assert origin["command"].endswith("--no-progress") and f"`{origin['command']}`" in (output / "report.md").read_text()


def test_unmapped_labels_fail_with_exit_code_2_before_any_work(tmp_path, capsys, fixture_datasets, ast_model):
    code = main(["evaluate", "-m", str(ast_model), "-d", str(fixture_datasets["speech_commands"].parquet),
                 "-o", str(tmp_path / "run")])
    assert code == 2
    error = capsys.readouterr().err
    assert "audiosift: error: 2 dataset label(s) match no model label" in error
    assert "'_silence_'" in error and "--allow-unmapped" in error
    assert not (tmp_path / "run" / "predictions.jsonl").exists()


def test_zero_shot_with_templates_and_label_column(tmp_path, fixture_datasets, clap_model):
    output = tmp_path / "run"
    code = main(["evaluate", "--model", str(clap_model), "--dataset", str(fixture_datasets["esc50"].parquet),
                 "--label-column", "category", "--template", "This is a sound of {}.",
                 "--template", "A recording of {}.", "--output", str(output)])
    assert code == 0
    run = json.loads((output / "run.json").read_text())
    assert run["templates"] == ["This is a sound of {}.", "A recording of {}."]
    assert run["candidate_labels"] == ["clock tick", "dog", "rain", "siren"]
    assert json.loads((output / "metrics.json").read_text())["scored"] == 8


def test_where_selects_esc50_fold_1_for_zero_shot(tmp_path, capsys, fixture_datasets, clap_model):
    output = tmp_path / "run"
    code = main(["evaluate", "--model", str(clap_model), "--dataset", str(fixture_datasets["esc50"].parquet),
                 "--label-column", "category", "--where", "fold=1", "--where", "category=dog,rain,siren",
                 "--limit", "2", "--output", str(output), "--no-progress"])
    assert code == 0
    assert "on " + str(fixture_datasets["esc50"].parquet) + " where fold=1 category=dog,rain,siren: accuracy" in \
        capsys.readouterr().out
    records = [json.loads(line) for line in (output / "predictions.jsonl").read_text().splitlines()]
    assert [(r["id"], r["label"]) for r in records] == [("0", "dog"), ("2", "rain")]  # fold-1 rows, then --limit
    run = json.loads((output / "run.json").read_text())
    assert run["candidate_labels"] == ["clock tick", "dog", "rain", "siren"]  # the split's labels stay candidates
    assert json.loads((output / "metrics.json").read_text())["where"] == ["fold=1", "category=dog,rain,siren"]
    # no such values: a clear error (exit code 2), not an empty report
    code = main(["evaluate", "--model", str(clap_model), "--dataset", str(fixture_datasets["esc50"].parquet),
                 "--label-column", "category", "--where", "fold=6", "--output", str(tmp_path / "none")])
    assert code == 2 and "matches --where fold=6 ('fold' holds 1, 2)" in capsys.readouterr().err
    assert not (tmp_path / "none" / "predictions.jsonl").exists()


def test_malformed_where_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "-d", str(tmp_path), "-o", str(tmp_path / "o"), "--where", "fold"])
    assert exit_info.value.code == 2
    assert "argument --where: expected COLUMN=VALUE" in capsys.readouterr().err


def test_ray_options_need_the_ray_engine(tmp_path, cli_error):
    cli_error(["evaluate", "-d", tmp_path, "-o", tmp_path / "o", "--ray-actors", "2"], "need --engine ray")


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = capsys.readouterr().out
    for option in ("--dataset", "--config", "--split", "--label-column", "--audio-column", "--label-map",
                   "--allow-unmapped", "--limit", "--shuffle", "--seed", "--batch-size", "--template", "--engine",
                   "--ray-address", "--output", "--streaming", "--where"):
        assert option in text
