"""Timed events ``{label, start, end, score}``: made from window predictions, written as files other
tools read.

Formats (each checked by a test against its spec):
- ``events-csv``: ``path,start,end,label,score`` with a header row; times in seconds (3 decimals).
- ``audacity``: an Audacity label track (File > Import > Labels): one label per line,
  ``start<TAB>end<TAB>label``, times in seconds; labels lose tabs and line breaks.
- ``raven``: a Raven selection table: tab-separated with the header ``Selection, View, Channel,
  Begin Time (s), End Time (s), Low Freq (Hz), High Freq (Hz)`` then our ``Annotation`` and
  ``Score`` columns and Raven's ``Begin File`` (the sound file's name) and ``File Offset (s)`` (the
  time within it); selections numbered from 1, ``View`` is ``Spectrogram 1``, ``Channel`` 1, and
  the band is 0 Hz to the Nyquist frequency of the audio the model heard. One table can hold the
  selections of many recordings, as Raven opens a file sequence and BirdNET combines its tables:
  ``Begin Time`` then counts from the first file's start (``EventWriter.file_offset_s``, advanced
  past each file) and ``File Offset (s)`` within each file.

Audacity label tracks describe one sound file each.
"""

from __future__ import annotations

import csv
import numbers
from pathlib import Path
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import IO

from audiosift.errors import UsageError

EVENT_FORMATS = ("events-csv", "audacity", "raven")
PER_FILE_FORMATS = ("audacity", "raven")  # one sound file per output file
EVENTS_CSV_FIELDS = ["path", "start", "end", "label", "score"]
RAVEN_FIELDS = ["Selection", "View", "Channel", "Begin Time (s)", "End Time (s)", "Low Freq (Hz)",
                "High Freq (Hz)", "Annotation", "Score", "Begin File", "File Offset (s)"]


def per_label_thresholds(threshold, labels: list[str], default: Callable[[str], float | None]) -> list[float]:
    """One threshold per label that may fire, for every detector: ``threshold`` is None (each
    label's ``default``), one number for all, or ``{label: number}`` (labels left out: ``default``).
    Naming a label that cannot fire is an error, not a threshold silently unused."""
    given, for_all = (dict(threshold), None) if isinstance(threshold, Mapping) else ({}, threshold)
    unknown = sorted(set(given) - set(labels), key=str)
    if unknown:
        raise UsageError(f"thresholds given for labels that cannot fire: {', '.join(map(str, unknown))} "
                         f"(the labels: {', '.join(labels[:40])})")
    values = []
    for label in labels:
        value = given[label] if label in given else for_all if for_all is not None else default(label)
        if value is None:
            raise UsageError(f"no threshold declared for {label!r}: pass threshold=")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
            raise UsageError(f"a threshold must be a number in [0, 1], got {value!r} for {label!r}")
        values.append(float(value))
    return values


@dataclass(frozen=True)
class Event:
    label: str
    start: float  # seconds
    end: float
    score: float

    def as_dict(self) -> dict:
        return asdict(self)


def top_event(window: dict, min_score: float = 0.0) -> Event | None:
    """A window record's best prediction as an event, or None when it scores below ``min_score``."""
    if not window.get("predictions"):
        return None
    best = window["predictions"][0]
    if best["score"] < min_score:
        return None
    return Event(best["label"], window["start"], window["end"], float(best["score"]))


def window_events(windows: Iterable[dict], min_score: float = 0.0) -> Iterator[Event]:
    """Each window's top prediction at or above ``min_score`` as its own event."""
    for window in windows:
        event = top_event(window, min_score)
        if event is not None:
            yield event


def merge_windows(windows: Iterable[dict], min_score: float = 0.0) -> Iterator[Event]:
    """Join consecutive windows whose top label is the same (and at or above ``min_score``).

    An event spans its first window's start to its last window's end; its score is the highest top
    score among its windows (the strongest evidence for the label). A window whose top label is
    below ``min_score``, or differs, ends the event in progress. Events come out as soon as they
    are complete, so this works on an endless stream of windows.
    """
    current: Event | None = None
    for window in windows:
        event = top_event(window, min_score)
        if current is not None and event is not None and event.label == current.label:
            current = Event(current.label, current.start, event.end, max(current.score, event.score))
            continue
        if current is not None:
            yield current
        current = event
    if current is not None:
        yield current


def clean_label(label: str) -> str:
    """Tabs and line breaks would split a label track's columns or lines."""
    return " ".join(str(label).split())


class EventWriter:
    """Write events as they arrive in one of :data:`EVENT_FORMATS`."""

    def __init__(self, stream: IO[str], fmt: str, nyquist_hz: float | None = None):
        if fmt not in EVENT_FORMATS:
            raise UsageError(f"event format must be one of {', '.join(EVENT_FORMATS)}, got {fmt!r}")
        self.stream, self.format, self.nyquist_hz = stream, fmt, nyquist_hz
        # Raven: where the current file starts in the table's sequence of files (Begin Time counts from
        # the first file's start, File Offset within each file): advance it past each file written.
        self.file_offset_s = 0.0
        self._selection = 0
        self._csv = None
        if fmt == "events-csv":
            self._csv = csv.writer(stream, lineterminator="\n")
            self._csv.writerow(EVENTS_CSV_FIELDS)
        elif fmt == "raven":
            stream.write("\t".join(RAVEN_FIELDS) + "\n")

    def write(self, event: Event, path: str = "") -> None:
        if self.format == "events-csv":
            self._csv.writerow([path, f"{event.start:.3f}", f"{event.end:.3f}", event.label, f"{event.score:.6f}"])
        elif self.format == "audacity":
            self.stream.write(f"{event.start:.6f}\t{event.end:.6f}\t{clean_label(event.label)}\n")
        else:
            self._selection += 1
            high = f"{self.nyquist_hz:.1f}" if self.nyquist_hz else ""
            begin, end = event.start + self.file_offset_s, event.end + self.file_offset_s
            row = [str(self._selection), "Spectrogram 1", "1", f"{begin:.6f}", f"{end:.6f}", "0.0",
                   high, clean_label(event.label), f"{event.score:.6f}", clean_label(Path(path).name) if path else "",
                   f"{event.start:.6f}"]
            self.stream.write("\t".join(row) + "\n")
        self.stream.flush()

    def write_all(self, events: Iterable[Event], path: str = "") -> None:
        for event in events:
            self.write(event, path)


def event_record(event: Event, path: str) -> dict:
    """An event as a CLI record ``{path, start, end, predictions}`` (table, json, jsonl, csv)."""
    return {"path": path, "start": event.start, "end": event.end,
            "predictions": [{"label": event.label, "score": event.score}]}
