"""Writing prediction records: table, json, jsonl or csv, to stdout or a file.

A record is ``{"path": ..., "predictions": [{"label", "score"}, ...]}`` or
``{"path": ..., "error": "<message>"}``; other keys (``start``/``end`` for windows) pass through.
Records are written as they arrive (except ``json``, one array at the end), so a long job's output
is usable while it runs.
"""

from __future__ import annotations

import csv
import json
import sys
from contextlib import contextmanager
from typing import IO, Iterator

FORMATS = ("table", "json", "jsonl", "csv")
CSV_FIELDS = ["path", "start", "end", "rank", "label", "score", "error"]


@contextmanager
def open_output(path: str | None) -> Iterator[IO[str]]:
    if path is None or path == "-":
        yield sys.stdout
        return
    with open(path, "w", encoding="utf-8", newline="") as handle:
        yield handle


class RecordWriter:
    def __init__(self, stream: IO[str], fmt: str):
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        self.stream, self.format = stream, fmt
        self._json_records: list[dict] = []
        self._csv = csv.DictWriter(stream, CSV_FIELDS, extrasaction="ignore") if fmt == "csv" else None
        if self._csv:
            self._csv.writeheader()

    def write(self, record: dict) -> None:
        if self.format == "jsonl":
            self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        elif self.format == "json":
            self._json_records.append(record)
        elif self.format == "csv":
            self._write_csv(record)
        else:
            self.stream.write(format_table_record(record))
        self.stream.flush()

    def _write_csv(self, record: dict) -> None:
        base = {key: record.get(key) for key in ("path", "start", "end")}
        if "error" in record:
            self._csv.writerow(dict(base, error=record["error"]))
            return
        for rank, prediction in enumerate(record["predictions"], start=1):
            self._csv.writerow(dict(base, rank=rank, label=prediction["label"], score=f"{prediction['score']:.6f}"))

    def close(self) -> None:
        if self.format == "json":
            json.dump(self._json_records, self.stream, ensure_ascii=False, indent=2)
            self.stream.write("\n")
            self.stream.flush()


def format_table_record(record: dict) -> str:
    head = str(record.get("path", ""))
    if "start" in record:
        head += f"  [{record['start']:.2f}-{record['end']:.2f} s]"
    if "error" in record:
        return f"{head}\n  ERROR: {record['error']}\n"
    lines = [head]
    for prediction in record["predictions"]:
        bar = "#" * int(round(prediction["score"] * 20))
        lines.append(f"  {prediction['score']:7.2%}  {bar:<20}  {prediction['label']}")
    return "\n".join(lines) + "\n"
