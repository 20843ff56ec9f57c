"""The task's data flags: which dataset, where its files are, how a table is read, the parse cache.

``add_data_flags`` adds them to the parser; ``data_params`` checks which combinations make sense
(a flag given for a dataset that does not use it is an error, not silently ignored) and returns
the data part of the run's parameters; ``data_spec`` turns those into a ``data_sources.DataSpec``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import data_sources

DEFAULT_TEST_SIZE = 0.25
# flag dest -> the datasets it applies to
APPLIES_TO: dict[str, tuple[str, ...]] = {
    "data_folder": data_sources.IDX_DATASETS,
    "data_file": (data_sources.CSV,),
    "target": (data_sources.CSV,),
    "features": (data_sources.CSV,),
    "test_size": (*data_sources.BUNDLED, data_sources.CSV),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    **{name: ("data_folder",) for name in data_sources.IDX_DATASETS},
    data_sources.CSV: ("data_file", "target"),
}
METAVARS = {"data_folder": "PATH", "data_file": "PATH", "target": "NAME", "features": "A,B,C", "test_size": "FLOAT"}


def _fraction(text: str) -> float:
    """Parse --test-size: a float in (0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected float in (0, 1), got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {text}")
    return value


def _columns(text: str) -> list[str]:
    """Parse --features: comma-separated column names (empty: every column but the target)."""
    return [name.strip() for name in text.split(",") if name.strip()]


def add_data_flags(parser: argparse.ArgumentParser) -> None:
    """Add --dataset, its source flags, --test-size, --cache-dir and --preview."""
    s = argparse.SUPPRESS  # absent from the namespace unless given, so misuse can be detected
    parser.add_argument("--dataset", choices=data_sources.DATASETS, default="digits",
                        help="bundled scikit-learn data; idx_folder or mnist for MNIST idx files; csv for a "
                        "table (default digits)")
    parser.add_argument("--data-folder", type=Path, default=s, metavar="PATH",
                        help="idx_folder, mnist: folder searched recursively for the four MNIST idx files "
                        "(train-/t10k-images-idx3-ubyte, train-/t10k-labels-idx1-ubyte, .gz or raw)")
    parser.add_argument("--data-file", type=Path, default=s, metavar="PATH",
                        help="csv: the CSV file (header row first), or a folder holding exactly one .csv")
    parser.add_argument("--target", default=s, metavar="NAME", help="csv: the label column (numbers or strings)")
    parser.add_argument("--features", type=_columns, default=s, metavar="A,B,C",
                        help="csv: feature columns, comma-separated (default: every column but the target)")
    parser.add_argument("--test-size", metavar="FLOAT", type=_fraction, default=s,
                        help="held-out fraction for bundled datasets and csv, stratified (default 0.25); "
                        "idx_folder and mnist use the files' own train/t10k split")
    parser.add_argument("--cache-dir", type=Path, default=None, metavar="PATH",
                        help="cache parsed idx/csv arrays here, keyed by the files' content (default: no cache)")
    parser.add_argument("--preview", action="store_true",
                        help="also save outputs/samples.png, a grid of training images (image datasets; "
                        "needs matplotlib)")


def data_params(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    """Check the data flags against --dataset; return the data parameters (defaults filled in)."""
    given, name = vars(args), args.dataset
    for dest in REQUIRED.get(name, ()):
        if dest not in given:
            needed = " ".join(f"--{d.replace('_', '-')} {METAVARS[d]}" for d in REQUIRED[name])
            parser.error(f"--dataset {name} requires {needed}")
    for dest, datasets in APPLIES_TO.items():
        if dest in given and name not in datasets:
            flag = "--" + dest.replace("_", "-")
            if dest == "test_size":
                parser.error(f"{flag} only applies to bundled datasets and csv; {name} uses the files' own "
                             "train/t10k split")
            parser.error(f"{flag} is only used with --dataset {' or '.join(datasets)}, not --dataset {name}")
    params: dict[str, Any] = {"dataset": name}
    if name in data_sources.IDX_DATASETS:
        params["data_folder"] = str(args.data_folder)
        return params
    if name == data_sources.CSV:
        params.update(data_file=str(args.data_file), target=args.target, features=given.get("features", []))
    params["test_size"] = given.get("test_size", DEFAULT_TEST_SIZE)
    return params


def data_spec(params: dict[str, Any], seed: int, cache_dir: Path | None) -> data_sources.DataSpec:
    """The DataSpec for the data parameters returned by :func:`data_params`."""
    folder, file = params.get("data_folder"), params.get("data_file")
    return data_sources.DataSpec(
        name=params["dataset"],
        data_folder=Path(folder) if folder is not None else None,
        data_file=Path(file) if file is not None else None,
        target=params.get("target"),
        features=tuple(params.get("features", ())),
        test_size=params.get("test_size", DEFAULT_TEST_SIZE),
        seed=seed,
        cache_dir=cache_dir,
    )
