"""CSV tables: reading (tasks/csv_table.py), the split, the cache, the fingerprint, the task's errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import data_sources
import numpy as np
import pytest
from data_sources import DataSourceError, DataSpec, fingerprint, load

TRAIN = Path(__file__).resolve().parents[1] / "tasks" / "train.py"


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    """Write a CSV file with the csv module; return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_wine_csv(path: Path, string_labels: bool = True) -> Path:
    """scikit-learn's bundled wine data as a CSV table with a 'label' column."""
    from sklearn.datasets import load_wine

    wine = load_wine()
    labels = [wine.target_names[t] if string_labels else int(t) for t in wine.target]
    rows = [[*x.tolist(), label] for x, label in zip(wine.data, labels)]
    return write_csv(path, [*wine.feature_names, "label"], rows)


def _spec(path: Path, target: str = "label", **kwargs) -> DataSpec:
    return DataSpec("csv", data_file=path, target=target, **kwargs)


# ---------------------------------------------------------------- reading and splitting


def test_wine_csv_loads_with_string_labels(tmp_path: Path) -> None:
    split = load(_spec(write_wine_csv(tmp_path / "wine.csv"), seed=3))
    assert split.X_train.shape == (133, 13) and split.X_test.shape == (45, 13)
    assert split.X_train.dtype == np.float64 and split.y_train.dtype == np.int64
    assert split.class_names == ("class_0", "class_1", "class_2")
    assert split.columns[0] == "alcohol" and "label" not in split.columns
    assert sorted(np.bincount(split.y_test).tolist()) == [12, 15, 18]  # stratified
    again = load(_spec(tmp_path / "wine.csv", seed=3))
    np.testing.assert_array_equal(split.X_test, again.X_test)


def test_feature_subset_and_numeric_labels_sorted_numerically(tmp_path: Path) -> None:
    rows = [[i, i * 2.0, "x", (i % 3) * 5] for i in range(30)]  # labels 0, 5, 10
    path = write_csv(tmp_path / "t.csv", ["a", "b", "note", "y"], rows)
    split = load(_spec(path, target="y", features=("b", "a")))
    assert split.columns == ("b", "a") and split.class_names == ("0", "5", "10")
    assert split.X_train.shape[1] == 2


def test_folder_with_exactly_one_csv(tmp_path: Path) -> None:
    write_wine_csv(tmp_path / "mount" / "deep" / "wine.csv")
    assert load(_spec(tmp_path / "mount")).files == [tmp_path / "mount" / "deep" / "wine.csv"]


def test_csv_cache_hit_and_options_in_key(tmp_path: Path) -> None:
    path = write_wine_csv(tmp_path / "wine.csv")
    cache = tmp_path / "cache"
    first, second = load(_spec(path, cache_dir=cache)), load(_spec(path, cache_dir=cache))
    assert (first.cache, second.cache) == ("miss", "hit")
    np.testing.assert_array_equal(first.X_train, second.X_train)
    assert second.class_names == first.class_names and second.columns == first.columns
    assert load(_spec(path, cache_dir=cache, features=("alcohol",))).cache == "miss"  # other columns, other key


# ---------------------------------------------------------------- fingerprint


def test_csv_fingerprint_names_file_columns_target_and_classes(tmp_path: Path) -> None:
    path = write_wine_csv(tmp_path / "wine.csv")
    fp = fingerprint(load(_spec(path)))
    json.dumps(fp)
    assert fp["source"] == "csv" and fp["hashed"] == "files+columns"
    assert fp["files"] == [{"path": str(path), "bytes": path.stat().st_size,
                            "sha256": data_sources.sha256_file(path)}]
    assert fp["table"]["target"] == "label" and len(fp["table"]["columns"]) == 13
    assert fp["table"]["class_names"] == ["class_0", "class_1", "class_2"]
    assert set(fp["class_counts"]["test"]) == {"class_0", "class_1", "class_2"}
    fewer = fingerprint(load(_spec(path, features=("alcohol", "hue"))))
    assert fewer["files"] == fp["files"] and fewer["content_sha256"] != fp["content_sha256"]


# ---------------------------------------------------------------- errors


def _errors_case(tmp_path: Path, case: str) -> tuple[list[str], str]:
    """Write the data for one error case; return (extra task args, expected message fragment)."""
    good = [[1.0, 2.0, "a"], [1.5, 2.5, "b"], [1.1, 2.1, "a"], [1.6, 2.6, "b"]] * 3
    if case == "missing file":
        return ["--data-file", "nope.csv", "--target", "y"], "data file nope.csv does not exist"
    if case == "empty file":
        (tmp_path / "t.csv").write_text("")
        return ["--data-file", "t.csv", "--target", "y"], "t.csv is empty"
    if case == "header only":
        (tmp_path / "t.csv").write_text("f1,f2,y\n")
        return ["--data-file", "t.csv", "--target", "y"], "has a header but no data rows"
    write = lambda header, rows: write_csv(tmp_path / "t.csv", header, rows)
    if case == "missing target":
        write(["f1", "f2", "y"], good)
        return ["--data-file", "t.csv", "--target", "label"], "target column 'label' is not in t.csv; its columns: f1, f2, y"
    if case == "unknown feature":
        write(["f1", "f2", "y"], good)
        return (["--data-file", "t.csv", "--target", "y", "--features", "f1,f9"],
                "feature column(s) 'f9' not in t.csv; its columns: f1, f2, y")
    if case == "non-numeric value":
        write(["f1", "f2", "y"], [*good[:4], [1.0, "n/a", "a"], *good[4:]])
        return ["--data-file", "t.csv", "--target", "y"], "column 'f2' of t.csv holds 'n/a' at line 6 (data row 5)"
    if case == "missing value":
        write(["f1", "f2", "y"], [*good[:2], ["", 2.0, "a"], *good[2:]])
        return ["--data-file", "t.csv", "--target", "y"], "column 'f1' of t.csv holds '' at line 4"
    if case == "infinite value":
        write(["f1", "f2", "y"], [*good, [1.0, "inf", "a"]])
        return ["--data-file", "t.csv", "--target", "y"], "holds 'inf' at line 14 (data row 13), which is not a finite"
    if case == "single class":
        write(["f1", "f2", "y"], [[i, i, "only"] for i in range(10)])
        return ["--data-file", "t.csv", "--target", "y"], "holds a single class ('only') in 10 rows"
    if case == "class with one row":
        write(["f1", "f2", "y"], [*good, [9, 9, "c"]])
        return ["--data-file", "t.csv", "--target", "y"], "class(es) 'c' of target 'y' have a single row"
    if case == "too few rows":
        write(["f1", "f2", "y"], [[i, i, "abc"[i % 3]] for i in range(6)])
        return (["--data-file", "t.csv", "--target", "y", "--test-size", "0.25"],
                "6 rows are too few to split 3 classes with test_size 0.25: the test part would get 2 rows")
    if case == "ragged row":
        write(["f1", "f2", "y"], [*good[:3], [1.0, "a"], *good[3:]])
        return ["--data-file", "t.csv", "--target", "y"], "t.csv line 5 has 2 fields but the header has 3"
    if case == "empty label":
        write(["f1", "f2", "y"], [*good, [1.0, 2.0, ""]])
        return ["--data-file", "t.csv", "--target", "y"], "target column 'y' of t.csv is empty at line 14"
    if case == "two csv files":
        write_csv(tmp_path / "d" / "a.csv", ["x", "y"], good)
        write_csv(tmp_path / "d" / "b.csv", ["x", "y"], good)
        return ["--data-file", "d", "--target", "y"], "2 .csv files below d"
    raise AssertionError(case)


CASES = ["missing file", "empty file", "header only", "missing target", "unknown feature", "non-numeric value",
         "missing value", "infinite value", "single class", "class with one row", "too few rows", "ragged row",
         "empty label", "two csv files"]


@pytest.mark.parametrize("case", CASES)
def test_task_reports_csv_problems_in_one_line(tmp_path: Path, case: str) -> None:
    args, expected = _errors_case(tmp_path, case)
    proc = subprocess.run([sys.executable, str(TRAIN), "--dataset", "csv", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("train.py: error: ")]
    assert expected in line, line
    assert not (tmp_path / "outputs" / "metrics.json").exists()


def test_loader_errors_are_data_source_errors(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="needs a data file and a target column"):
        load(DataSpec("csv", data_file=tmp_path / "x.csv"))
    with pytest.raises(DataSourceError, match="no .csv file anywhere below the folder"):
        load(_spec(tmp_path))
