"""Read a classification table from a CSV file with the stdlib csv module and numpy (no pandas).

The first row names the columns. Feature values must be finite numbers; the target column may
hold numbers or strings: its distinct values become the class names (sorted numerically when all
are numbers, else alphabetically) and the labels are their indices. Every problem raises a
TableError whose message names the file, the column and, for bad values, the line.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PARSER_VERSION = 1  # bump when parsing changes: it is part of the parsed-data cache key


class TableError(ValueError):
    """The CSV table cannot be used: missing, empty, unknown columns, bad values, one class."""


@dataclass(frozen=True)
class Table:
    """Feature matrix, encoded labels, and what they mean."""

    X: np.ndarray  # float64, (rows, features)
    y: np.ndarray  # int64 indices into class_names
    class_names: tuple[str, ...]
    columns: tuple[str, ...]  # the feature columns used, in order
    target: str


def find_csv(path: Path) -> Path:
    """``path`` itself if it is a file, else the one ``.csv`` anywhere below the folder ``path``."""
    if not path.exists():
        raise TableError(f"csv: data file {path} does not exist")
    if path.is_file():
        return path
    found = sorted(Path(root) / name for root, _, files in os.walk(path, followlinks=True)
                   for name in files if name.lower().endswith(".csv"))
    if not found:
        raise TableError(f"csv: no .csv file anywhere below the folder {path}")
    if len(found) > 1:
        raise TableError(f"csv: {len(found)} .csv files below {path} ({', '.join(map(str, found[:5]))}); "
                         "point --data-file at one of them")
    return found[0]


def _columns(path: Path, header: list[str] | None, target: str, features: Sequence[str]) -> tuple[list[str], list[str]]:
    """Check the header against target and features; return (all columns, feature columns used)."""
    if header is None or not any(cell.strip() for cell in header):
        raise TableError(f"csv: {path} is empty; expected a header row naming the columns, then one row per sample")
    columns = [cell.strip() for cell in header]
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise TableError(f"csv: {path} names the column(s) {', '.join(map(repr, duplicates))} more than once")
    listed = ", ".join(columns)
    if target not in columns:
        raise TableError(f"csv: target column {target!r} is not in {path}; its columns: {listed}")
    unknown = [f for f in features if f not in columns]
    if unknown:
        raise TableError(f"csv: feature column(s) {', '.join(map(repr, unknown))} not in {path}; its columns: {listed}")
    used = list(features) or [c for c in columns if c != target]
    if not used:
        raise TableError(f"csv: {path} has no feature columns besides the target {target!r}")
    return columns, used


def _rows(path: Path, target: str, features: Sequence[str]) -> tuple[list[str], list[list[str]], list[str], list[int]]:
    """(feature columns, feature cells per row, target cells, the file line of each row)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            columns, used = _columns(path, next(reader, None), target, features)
            picks, label_at = [columns.index(c) for c in used], columns.index(target)
            cells, labels, lines = [], [], []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue  # blank line
                if len(row) != len(columns):
                    raise TableError(f"csv: {path} line {reader.line_num} has {len(row)} fields but the header "
                                     f"has {len(columns)}")
                cells.append([row[i] for i in picks])
                labels.append(row[label_at].strip())
                lines.append(reader.line_num)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise TableError(f"csv: {path} is not a readable UTF-8 CSV file: {exc}") from None
    if not cells:
        raise TableError(f"csv: {path} has a header but no data rows")
    return used, cells, labels, lines


def _bad_value(path: Path, used: list[str], cells: list[list[str]], lines: list[int], row: int, col: int,
               why: str) -> TableError:
    value = cells[row][col]
    return TableError(f"csv: column {used[col]!r} of {path} holds {value.strip()!r} at line {lines[row]} "
                      f"(data row {row + 1}), {why}; feature columns must hold numbers only")


def _features(path: Path, used: list[str], cells: list[list[str]], lines: list[int]) -> np.ndarray:
    """The float64 feature matrix; the first non-numeric or non-finite cell (row order) is an error."""
    try:
        X = np.array(cells, dtype=np.float64)
    except ValueError:
        for r, row in enumerate(cells):
            for c, cell in enumerate(row):
                try:
                    float(cell)
                except ValueError:
                    raise _bad_value(path, used, cells, lines, r, c, "which is not a number") from None
        raise  # unreachable: numpy and float() accept the same strings
    bad = np.argwhere(~np.isfinite(X))
    if len(bad):
        raise _bad_value(path, used, cells, lines, int(bad[0][0]), int(bad[0][1]), "which is not a finite number")
    return X


def _encode(path: Path, target: str, labels: list[str], lines: list[int]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels → (int64 codes, class names)."""
    if "" in labels:
        line = lines[labels.index("")]
        raise TableError(f"csv: target column {target!r} of {path} is empty at line {line}; every row needs a label")
    names = set(labels)
    try:
        ordered = sorted(names, key=lambda name: (float(name), name))
    except ValueError:
        ordered = sorted(names)
    if len(ordered) < 2:
        raise TableError(f"csv: target column {target!r} of {path} holds a single class ({ordered[0]!r}) in "
                         f"{len(labels)} rows; classification needs at least two")
    index = {name: i for i, name in enumerate(ordered)}
    return np.fromiter((index[label] for label in labels), dtype=np.int64, count=len(labels)), tuple(ordered)


def read_table(path: Path, target: str, features: Sequence[str] = ()) -> Table:
    """Read ``path`` (a CSV file) into a Table of ``features`` (empty: all but ``target``) and labels."""
    used, cells, labels, lines = _rows(path, target, features)
    X = _features(path, used, cells, lines)
    y, class_names = _encode(path, target, labels, lines)
    return Table(X, y, class_names, tuple(used), target)
