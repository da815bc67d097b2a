"""``--where COLUMN=VALUE``: keep only the rows whose columns hold the values asked for.

A filter is a tuple of conditions ``(column, values)``; a row is kept when every condition holds,
and a condition holds when the row's value in ``column`` is any of ``values``. Values are text and
compare against the row's value as text, with two conveniences:
- a ``ClassLabel`` column matches by class name or by integer id (``lang_id=en-AU`` or ``lang_id=2``);
- a numeric value matches numerically (``fold=1`` matches ``1`` and ``1.0``), a boolean matches
  ``true``/``false`` in any case. Text cells (CSV manifests) compare as text, spaces around trimmed.

Filters run before shuffling and ``limit``, so ``--where fold=1 --limit 20`` gives 20 fold-1 clips.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from audiosift.errors import DatasetError, UsageError

Condition = tuple[str, tuple[str, ...]]
Where = tuple[Condition, ...]
SEEN_VALUES_SHOWN = 12  # distinct values of a column quoted when a filter matches nothing
WHERE_SYNTAX = "COLUMN=VALUE[,VALUE...] (e.g. fold=1, or lang_id=en-AU,de-DE)"


def parse_condition(text: str) -> Condition:
    """``"fold=1,2"`` -> ``("fold", ("1", "2"))``; a ValueError says what is wrong."""
    if not isinstance(text, str):
        raise UsageError(f"where: expected {WHERE_SYNTAX}, got {text!r}")
    column, equals, values = text.partition("=")
    if not equals or not column.strip():
        raise UsageError(f"where: expected {WHERE_SYNTAX}, got {text!r}")
    return _condition(column, values.split(","), text)


def normalise_where(where: Any) -> Where:
    """The filter as conditions, from what a caller may give.

    Accepted: None; ``"fold=1,2"`` or a list of such strings (as the CLI gives); a mapping
    ``{"fold": [1, 2], "esc10": True}`` (a single value or a list; mapping values are not split
    at commas); or ``(column, values)`` pairs.
    """
    if where is None:
        return ()
    if isinstance(where, str):
        where = [where]
    items: Iterable = where.items() if isinstance(where, Mapping) else where
    conditions = []
    for item in items:
        if isinstance(item, str):
            conditions.append(parse_condition(item))
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            column, values = item
            single = isinstance(values, (str, bytes, numbers.Number, np.generic)) or values is None
            conditions.append(_condition(column, [values] if single else list(values), item))
        else:
            raise UsageError(f"where: expected {WHERE_SYNTAX} strings, a mapping of column -> value(s), or "
                             f"(column, values) pairs, got {item!r}")
    return tuple(conditions)


def _condition(column: Any, values: Sequence[Any], given: Any) -> Condition:
    if not isinstance(column, str) or not column.strip():
        raise UsageError(f"where: the column must be a non-empty name, got {column!r} in {given!r}")
    texts = tuple(_value_text(value) for value in values)
    if not texts or not all(texts):
        raise UsageError(f"where: every value must be non-empty (expected {WHERE_SYNTAX}), got {given!r}")
    return column.strip(), tuple(dict.fromkeys(texts))


def _value_text(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value).strip()


def describe(where: Where) -> list[str]:
    """``[("fold", ("1", "2"))]`` -> ``["fold=1,2"]`` (how reports, metrics and errors show a filter)."""
    return [f"{column}={','.join(values)}" for column, values in where]


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


class ValueTest:
    """Does one cell hold any of ``values``? (``class_names``: the column is a ClassLabel.)"""

    def __init__(self, values: tuple[str, ...], class_names: Sequence[str] | None = None):
        self.texts = frozenset(values)
        self.lowered = frozenset(value.lower() for value in values)
        self.numbers = frozenset(n for n in map(_number, values) if n is not None)
        self.class_ids = None
        if class_names is not None:
            self.class_ids = {i for i, name in enumerate(class_names) if name in self.texts}
            self.class_ids |= {int(n) for n in self.numbers if n.is_integer()}

    def __call__(self, value: Any) -> bool:
        if value is None:
            return False
        if isinstance(value, (bool, np.bool_)):
            return ("true" if value else "false") in self.lowered
        if self.class_ids is not None and isinstance(value, numbers.Integral):
            return int(value) in self.class_ids
        if isinstance(value, numbers.Real):
            return float(value) in self.numbers or str(value) in self.texts
        return str(value).strip() in self.texts


class RowFilter:
    """Keeps a row (a mapping of column -> value) when every condition holds.

    ``columns`` (when known) are checked up front; a missing column is a :class:`DatasetError`
    listing those there are. It remembers a few values of each filtered column it has seen, so
    that a filter matching nothing can say which values there are.
    """

    def __init__(self, where: Where, source: str, columns: Sequence[str] | None = None,
                 class_names: Mapping[str, Sequence[str]] | None = None):
        self.where, self.source = where, source
        self.class_names = dict(class_names or {})
        self.tests = [(column, ValueTest(values, self.class_names.get(column))) for column, values in where]
        self.seen: dict[str, dict[str, None]] = {column: {} for column, _ in where}
        self.matched = 0
        self._columns_checked = columns is not None
        if columns is not None:
            self.check_columns(columns)

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(column for column, _ in self.where))

    def check_columns(self, columns: Iterable[str]) -> None:
        columns = list(columns)
        missing = [column for column in self.columns if column not in columns]
        if missing:
            raise DatasetError(f"{self.source}: no column {', '.join(map(repr, missing))} to filter on (--where); "
                               f"the columns are {', '.join(map(repr, columns))}")

    def __call__(self, row: Mapping[str, Any]) -> bool:
        if not self._columns_checked:  # a stream whose columns were unknown up front: check its first row
            self.check_columns(column for column in row if not column.startswith("__"))  # not ours (__index__)
            self._columns_checked = True
        keep = True
        for column, test in self.tests:
            value = row.get(column)
            self._remember(column, value)
            keep = keep and test(value)
        self.matched += keep
        return keep

    def _remember(self, column: str, value: Any) -> None:
        seen = self.seen[column]
        if len(seen) < SEEN_VALUES_SHOWN:
            names = self.class_names.get(column)
            if names is not None and isinstance(value, numbers.Integral) and 0 <= value < len(names):
                value = f"{names[value]} ({value})"
            seen[str(value)] = None

    def positions(self, rows: Mapping[str, Sequence[Any]], count: int) -> list[int]:
        """Indices of the kept rows, given the filtered columns as lists (``dataset.select_columns(...)[:]``)."""
        kept = [i for i in range(count) if self({column: rows[column][i] for column in self.columns})]
        if not kept:
            raise DatasetError(self.no_match_message(count))
        return kept

    def no_match_message(self, count: int | None = None) -> str:
        examples = f"none of its {count} examples" if count is not None else "no example of the stream"
        values = "; ".join(f"{column!r} holds {', '.join(seen) or 'no values'}"
                           f"{', ...' if len(seen) >= SEEN_VALUES_SHOWN else ''}"
                           for column, seen in self.seen.items())
        return (f"{self.source}: {examples} matches --where {' '.join(describe(self.where))} "
                f"({values}); check the values (compared as text; ClassLabel columns by name or id)")
