"""Merging window predictions into events, and the event file formats checked against their specs."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from audiosift.errors import UsageError
from audiosift.inference.events import Event, EventWriter, merge_windows, per_label_thresholds, window_events


def window(start, end, *scored):
    return {"start": start, "end": end, "predictions": [{"label": l, "score": s} for l, s in scored]}


WINDOWS = [
    window(0.0, 1.0, ("yes", 0.9), ("no", 0.1)),
    window(0.5, 1.5, ("yes", 0.7), ("no", 0.3)),
    window(1.0, 2.0, ("yes", 0.95), ("no", 0.05)),
    window(1.5, 2.5, ("no", 0.6), ("yes", 0.4)),
    window(2.0, 3.0, ("yes", 0.3), ("no", 0.2)),  # below min_score 0.5: breaks the run
    window(2.5, 3.5, ("yes", 0.8), ("no", 0.2)),
    window(3.0, 4.0, ("yes", 0.85), ("no", 0.15)),
]


def test_merge_joins_consecutive_windows_with_the_same_top_label():
    events = list(merge_windows(WINDOWS, min_score=0.5))
    assert events == [Event("yes", 0.0, 2.0, 0.95), Event("no", 1.5, 2.5, 0.6), Event("yes", 2.5, 4.0, 0.85)]


def test_merge_without_min_score_keeps_every_window_in_some_event():
    events = list(merge_windows(WINDOWS))
    assert [(e.label, e.start, e.end) for e in events] == [("yes", 0.0, 2.0), ("no", 1.5, 2.5), ("yes", 2.0, 4.0)]
    assert events[-1].score == 0.85


def test_window_events_are_each_windows_top_label_above_min_score():
    events = list(window_events(WINDOWS, min_score=0.65))
    assert [(e.label, e.start) for e in events] == [("yes", 0.0), ("yes", 0.5), ("yes", 1.0), ("yes", 2.5),
                                                    ("yes", 3.0)]


def test_merge_works_on_an_endless_stream():
    def endless():
        for k in range(10**9):
            yield window(k, k + 1, ("a" if (k // 3) % 2 == 0 else "b", 0.9))

    merged = merge_windows(endless())
    assert next(merged) == Event("a", 0, 3, 0.9)
    assert next(merged) == Event("b", 3, 6, 0.9)


EVENTS = [Event("yes", 0.0, 1.25, 0.9), Event("dog\tbark\nloud", 2.5, 3.0, 0.5), Event("no", 10.125, 11.0, 0.123456789)]


def written(fmt, events=EVENTS, **kwargs):
    stream = io.StringIO()
    writer = EventWriter(stream, fmt, **kwargs)
    writer.write_all(events, path="rec.wav")
    return stream.getvalue()


def test_events_csv_has_a_header_and_one_row_per_event():
    rows = list(csv.reader(io.StringIO(written("events-csv"))))
    assert rows[0] == ["path", "start", "end", "label", "score"]
    assert rows[1] == ["rec.wav", "0.000", "1.250", "yes", "0.900000"]
    assert rows[2][3] == "dog\tbark\nloud"  # csv quoting keeps the label intact
    assert rows[3] == ["rec.wav", "10.125", "11.000", "no", "0.123457"]
    assert len(rows) == 4


def test_audacity_label_track_spec():
    # Audacity manual, "Importing and Exporting Labels": one label per line, tab-separated
    # start time, end time (seconds) and label text; no header.
    text = written("audacity")
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) == 4
    for line, event in zip(lines, EVENTS):
        fields = line.split("\t")
        assert len(fields) == 3
        start, end, label = float(fields[0]), float(fields[1]), fields[2]
        assert start == pytest.approx(event.start, abs=1e-6) and end == pytest.approx(event.end, abs=1e-6)
        assert start <= end
        assert label == " ".join(event.label.split())  # tabs/newlines would break the columns/lines
    assert lines[1].split("\t")[2] == "dog bark loud"


def test_raven_selection_table_spec():
    # Raven Pro selection tables: tab-delimited text, a header row whose first columns are
    # Selection, View, Channel, Begin Time (s), End Time (s), Low Freq (Hz), High Freq (Hz);
    # selections numbered from 1; View names the view ("Spectrogram 1"); channels from 1.
    text = written("raven", nyquist_hz=8000.0)
    rows = [line.split("\t") for line in text.rstrip("\n").split("\n")]
    assert rows[0][:7] == ["Selection", "View", "Channel", "Begin Time (s)", "End Time (s)", "Low Freq (Hz)",
                           "High Freq (Hz)"]
    assert rows[0][7:] == ["Annotation", "Score", "Begin File", "File Offset (s)"]
    body = [dict(zip(rows[0], row)) for row in rows[1:]]
    assert [r["Selection"] for r in body] == ["1", "2", "3"]
    assert {r["View"] for r in body} == {"Spectrogram 1"} and {r["Channel"] for r in body} == {"1"}
    assert all(len(row) == len(rows[0]) for row in rows)
    for record, event in zip(body, EVENTS):
        assert float(record["Begin Time (s)"]) == pytest.approx(event.start)
        assert float(record["End Time (s)"]) == pytest.approx(event.end)
        assert float(record["Low Freq (Hz)"]) == 0.0 and float(record["High Freq (Hz)"]) == 8000.0
        assert record["Begin File"] == "rec.wav" and float(record["File Offset (s)"]) == pytest.approx(event.start)
    assert body[1]["Annotation"] == "dog bark loud"


def test_unknown_event_format_is_refused():
    with pytest.raises(ValueError, match="events-csv"):
        EventWriter(io.StringIO(), "srt")


def test_per_label_thresholds_one_rule_for_every_detector():
    declared = {"alexa": 0.9}.get
    labels = ["alexa", "hey jarvis"]
    assert per_label_thresholds(None, labels, lambda label: declared(label, 0.5)) == [0.9, 0.5]
    assert per_label_thresholds(0.3, labels, lambda label: declared(label, 0.5)) == [0.3, 0.3]
    assert per_label_thresholds({"hey jarvis": 0.2}, labels, lambda label: declared(label, 0.5)) == [0.9, 0.2]
    with pytest.raises(UsageError, match="cannot fire: ok nabu"):
        per_label_thresholds({"ok nabu": 0.2}, labels, lambda label: 0.5)
    with pytest.raises(UsageError, match="no threshold declared for 'alexa'"):
        per_label_thresholds(None, labels, lambda label: None)
    assert per_label_thresholds(np.float32(0.25), labels, lambda label: 0.5) == [0.25, 0.25]
    for bad in (1.5, -0.1, True, "0.5"):
        with pytest.raises(UsageError, match=r"number in \[0, 1\]"):
            per_label_thresholds(bad, labels, lambda label: 0.5)
