"""``audiosift embed``: audio files in, L2-normalised CLAP audio embeddings out (.parquet or .npy).

- ``.parquet``: one row per file that was read: ``path`` (string), ``duration_s`` (float64) and
  ``embedding`` (fixed-size list of float32); the model id is in the file's metadata. Rows are
  written in groups as they are computed.
- ``.npy``: an ``(n, d)`` float32 array, and ``FILE.paths.txt`` beside it (``emb.npy`` -> ``emb.paths.txt``), one path per line:
  line ``i`` is row ``i``.

Files that cannot be read are reported on stderr, left out of the output, and make the exit code 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from audiosift.cli.common import add_model_arguments, check_device, check_output_file, find_inputs, with_progress
from audiosift.cli.output import atomic_path
from audiosift.cli.zero_shot import DEFAULT_MODEL, load_zero_shot_from_args
from audiosift.errors import UsageError
from audiosift.inference.classifier import source_name

OUTPUT_SUFFIXES = (".parquet", ".npy")
PARQUET_ROWS_PER_GROUP = 1024


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "embed", help="write CLAP audio embeddings of audio files (.parquet or .npy)",
        description="Compute L2-normalised CLAP audio embeddings of audio files (or every audio file under the "
                    "folders given). .parquet output holds path, duration_s and embedding columns; .npy output "
                    "holds the (n, d) float32 array, with the paths in FILE.paths.txt (emb.npy -> emb.paths.txt; line i = row i). Clips "
                    "longer than 10 s get the normalised mean of their 10 s windows' embeddings. Unreadable "
                    "files are reported on stderr and left out; the exit code is 1 if any file failed.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders (searched recursively)")
    parser.add_argument("--output", "-o", required=True, metavar="FILE",
                        help="where to write the embeddings: FILE.parquet or FILE.npy")
    add_model_arguments(parser, default_model=DEFAULT_MODEL)
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on stderr (default: when stderr is a terminal and there are many files)")
    parser.set_defaults(run=run)


def run(args) -> int:
    output = Path(args.output)
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UsageError(f"--output must end in {' or '.join(OUTPUT_SUFFIXES)}, got {output.name}")
    files = find_inputs(args)
    check_output_file(args.output, files)
    if output.suffix.lower() == ".npy":
        check_output_file(str(paths_file_for(output)), files, flag="the paths file of --output")
    else:
        _import_pyarrow()  # fail before the model loads, not after the work
    check_device(args)
    model = load_zero_shot_from_args(args, "embed")
    results = with_progress(model.embed_many(files, batch_size=args.batch_size), len(files), args.progress)
    good = GoodResults(results)
    if output.suffix.lower() == ".parquet":
        written = write_parquet(good, output, model.embedding_size, model.model_id)
    else:
        written = write_npy(good, output, model.embedding_size)
    print(f"audiosift embed: wrote {written} embeddings to {output}"
          + (f"; {good.failures} file(s) failed" if good.failures else ""), file=sys.stderr)
    return 1 if good.failures else 0


class GoodResults:
    """Yields the results that have an embedding; prints the others on stderr and counts them."""

    def __init__(self, results):
        self.results, self.failures = results, 0

    def __iter__(self):
        for result in self.results:
            if result.ok:
                yield result
            else:
                self.failures += 1
                path = source_name(result.source)
                message = result.error if path in result.error else f"{path}: {result.error}"
                print(f"audiosift embed: {message}", file=sys.stderr)


def _import_pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as error:
        raise UsageError(".parquet output needs pyarrow: pip install 'audiosift[zero-shot]' "
                         "(or write .npy instead)") from error
    return pa, pq


def paths_file_for(output: Path) -> Path:
    return output.with_suffix(".paths.txt")  # emb.npy -> emb.paths.txt


def write_parquet(results: GoodResults, output: Path, dimension: int, model_id: str):
    pa, pq = _import_pyarrow()
    schema = pa.schema([("path", pa.string()), ("duration_s", pa.float64()),
                        ("embedding", pa.list_(pa.float32(), dimension))],
                       metadata={"model_id": model_id, "normalization": "l2"})
    written, rows = 0, []
    with atomic_path(output) as temporary, pq.ParquetWriter(temporary, schema) as writer:
        for result in results:
            rows.append(result)
            if len(rows) == PARQUET_ROWS_PER_GROUP:
                writer.write_table(_table(rows, schema, pa))
                written, rows = written + len(rows), []
        writer.write_table(_table(rows, schema, pa))  # the last (possibly empty) group
        written += len(rows)
    return written


def _table(rows, schema, pa):
    vectors = np.stack([r.embedding for r in rows]) if rows else np.zeros((0, schema.field("embedding").type.list_size),
                                                                           dtype=np.float32)
    embedding = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), type=pa.float32()),
                                                  schema.field("embedding").type.list_size)
    return pa.Table.from_arrays([pa.array([source_name(r.source) for r in rows], type=pa.string()),
                                 pa.array([r.duration_s for r in rows], type=pa.float64()), embedding], schema=schema)


def write_npy(results: GoodResults, output: Path, dimension: int):
    paths, vectors = [], []
    for result in results:
        paths.append(source_name(result.source))
        vectors.append(result.embedding)
    array = np.stack(vectors) if vectors else np.zeros((0, dimension), dtype=np.float32)
    # Both files complete before either replaces an earlier one: rows and paths stay in step.
    with atomic_path(output) as array_file, atomic_path(paths_file_for(output)) as paths_file:
        with open(array_file, "wb") as handle:  # a handle: np.save would add .npy to a temporary name
            np.save(handle, array.astype(np.float32, copy=False))
        paths_file.write_text("".join(path + "\n" for path in paths), encoding="utf-8")
    return len(paths)
