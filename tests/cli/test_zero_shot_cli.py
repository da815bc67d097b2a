"""`audiosift zero-shot` and `audiosift embed`: records, bad files, label files, templates, outputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import audiosift
from audiosift.cli.main import main

LABELS = ["dog", "vacuum cleaner", "rain"]


@pytest.fixture(scope="module")
def clip_tree(audio_dir, tmp_path_factory):
    """Audio in a folder tree (several rates and codecs) plus one broken file."""
    root = tmp_path_factory.mktemp("zs-tree")
    (root / "sub").mkdir()
    shutil.copy(audio_dir / "yes.wav", root / "a.wav")
    shutil.copy(audio_dir / "yes_44k_stereo.wav", root / "sub" / "b.wav")
    shutil.copy(audio_dir / "yes.ogg", root / "sub" / "c.ogg")
    (root / "sub" / "broken.flac").write_bytes(b"fLaC but nothing else")
    return root


@pytest.fixture(scope="module")
def zs(clap_model):
    return audiosift.load(str(clap_model), device="cpu")


def jsonl(text):
    return [json.loads(line) for line in text.splitlines()]


def test_subprocess_jsonl_records_match_the_library_and_bad_file_exits_1(clip_tree, clap_model, zs):
    done = subprocess.run([sys.executable, "-m", "audiosift", "zero-shot", "--model", str(clap_model),
                           "--labels", "dog, vacuum cleaner,rain", "--format", "jsonl", "-k", "all", str(clip_tree)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    records = {r["path"].rsplit("/", 1)[-1]: r for r in jsonl(done.stdout)}
    assert sorted(records) == ["a.wav", "b.wav", "broken.flac", "c.ogg"]
    assert "could not decode" in records["broken.flac"]["error"]
    for name in ["a.wav", "b.wav", "c.ogg"]:
        expected = zs(records[name]["path"], candidate_labels=LABELS)
        got = records[name]["predictions"]
        assert [p["label"] for p in got] == [p["label"] for p in expected]
        np.testing.assert_allclose([p["score"] for p in got], [p["score"] for p in expected], atol=1e-5)


def test_labels_file_templates_and_top_k(clip_tree, clap_model, zs, tmp_path, capsys):
    labels_file = tmp_path / "labels.txt"
    labels_file.write_text("# sounds to look for\ndog\n\nvacuum cleaner\nrain\n")
    templates = ["This is a sound of {}.", "A recording of {}."]
    code = main(["zero-shot", "-m", str(clap_model), "--labels-file", str(labels_file), "--template", templates[0],
                 "--template", templates[1], "-k", "1", "-f", "json", str(clip_tree / "a.wav")])
    assert code == 0
    [record] = json.loads(capsys.readouterr().out)
    expected = zs(str(clip_tree / "a.wav"), candidate_labels=LABELS, hypothesis_template=templates, top_k=1)
    assert record["predictions"][0]["label"] == expected[0]["label"]
    assert record["predictions"][0]["score"] == pytest.approx(expected[0]["score"], abs=1e-5)


def test_named_template_set_and_text_cache_folder(clip_tree, clap_model, tmp_path, capsys):
    cache = tmp_path / "cache"
    assert main(["zero-shot", "-m", str(clap_model), "-l", "dog,rain", "-t", "ensemble", "--text-cache", str(cache),
                 "-f", "jsonl", str(clip_tree / "a.wav")]) == 0
    assert len(jsonl(capsys.readouterr().out)[0]["predictions"]) == 2
    assert len(list(cache.glob("*.npz"))) == 1


@pytest.mark.parametrize("args, message", [
    (["-l", "dog,dog"], "duplicates"),
    (["-l", " , "], "non-empty"),
    (["-l", "dog", "-t", "no placeholder"], "no '{}'"),
    (["--labels-file", "/nonexistent/labels.txt"], "cannot read --labels-file"),
])
def test_bad_labels_or_templates_exit_with_a_message(clip_tree, clap_model, args, message, cli_error):
    cli_error(["zero-shot", "-m", clap_model, *args, clip_tree / "a.wav"], message)


def test_labels_are_required(clip_tree, clap_model, capsys):
    with pytest.raises(SystemExit):
        main(["zero-shot", "-m", str(clap_model), str(clip_tree / "a.wav")])
    assert "--labels" in capsys.readouterr().err


def test_fixed_label_model_is_refused_with_advice(clip_tree, ast_model, capsys):
    assert main(["zero-shot", "-m", str(ast_model), "-l", "dog", str(clip_tree / "a.wav")]) == 2
    assert "needs a CLAP model" in capsys.readouterr().err


def test_embed_parquet_with_a_bad_file(clip_tree, clap_model, zs, tmp_path, capsys):
    import pyarrow.parquet as pq

    out = tmp_path / "emb.parquet"
    assert main(["embed", "-m", str(clap_model), str(clip_tree), "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert "broken.flac" in err and "could not decode" in err and "wrote 3 embeddings" in err
    table = pq.read_table(out)
    assert table.column_names == ["path", "duration_s", "embedding"]
    paths = table.column("path").to_pylist()
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["a.wav", "b.wav", "c.ogg"]
    vectors = np.array(table.column("embedding").to_pylist(), dtype=np.float32)
    np.testing.assert_allclose(vectors, zs.embed_audio(paths), atol=1e-5)
    assert pq.read_schema(out).metadata[b"model_id"] == str(clap_model).encode()


def test_embed_npy_writes_paths_beside_it(clip_tree, clap_model, zs, tmp_path):
    out = tmp_path / "emb.npy"
    files = [str(clip_tree / "a.wav"), str(clip_tree / "sub" / "c.ogg")]
    assert main(["embed", "-m", str(clap_model), *files, "-o", str(out)]) == 0
    vectors = np.load(out)
    assert vectors.shape == (2, zs.embedding_size) and vectors.dtype == np.float32
    assert (tmp_path / "emb.paths.txt").read_text().splitlines() == files
    np.testing.assert_allclose(vectors, zs.embed_audio(files), atol=1e-5)


def test_embed_refuses_other_output_suffixes(clip_tree, clap_model, tmp_path, cli_error):
    cli_error(["embed", "-m", clap_model, clip_tree / "a.wav", "-o", tmp_path / "emb.csv"], r"\.parquet or \.npy")


def test_windows_on_a_long_recording_match_the_library(clap_model, zs, tmp_path, capsys):
    """`zero-shot --window/--hop` scores each window exactly as the library scores that slice."""
    import soundfile as sf

    rate = 16000
    rng = np.random.default_rng(1)
    recording = np.concatenate([0.3 * np.sin(2 * np.pi * 440 * np.arange(6 * rate) / rate),
                                rng.uniform(-0.3, 0.3, 6 * rate)]).astype(np.float32)
    path = tmp_path / "long.wav"
    sf.write(path, recording, rate)
    labels = ["tone", "noise", "speech"]
    assert main(["zero-shot", "-m", str(clap_model), "--labels", ",".join(labels), "--window", "4", "--hop", "4",
                 "-k", "all", "-f", "jsonl", str(path)]) == 0
    records = jsonl(capsys.readouterr().out)
    assert [(r["start"], r["end"]) for r in records] == [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0)]
    at_48k = zs.prepare(path)  # slice after resampling, as the windowed reader does (no edge effects)
    for record in records:
        piece = at_48k[int(record["start"] * zs.sampling_rate): int(record["end"] * zs.sampling_rate)]
        expected = {p["label"]: p["score"]
                    for p in zs(piece, sampling_rate=zs.sampling_rate, candidate_labels=labels, top_k=None)}
        got = {p["label"]: p["score"] for p in record["predictions"]}
        assert got.keys() == expected.keys()
        np.testing.assert_allclose([got[k] for k in labels], [expected[k] for k in labels], atol=1e-5)
