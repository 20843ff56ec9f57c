"""Pictures of an image-classification run: sample images (--preview) and the confusion matrix.

matplotlib is optional (``pip install 'aml-runner[plots]'``) and imported only here, lazily, with
the Agg backend (files only, no display). Without it the run is unchanged: --preview logs one
warning line and no picture is written. A picture that fails to draw never fails the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

if TYPE_CHECKING:
    from data_sources import Split

log = logging.getLogger(__name__)

SAMPLES_FILE = "samples.png"
CONFUSION_FILE = "confusion_matrix.png"
N_SAMPLES = 30
Writer = Callable[[Path, Callable[[BinaryIO], Any]], None]
SAMPLE_COLUMNS = 10


def _matplotlib() -> Any | None:
    """The matplotlib module set to the Agg backend, or None when it is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    return matplotlib


def save_pictures(split: Split, predicted: np.ndarray, output_dir: Path, preview: bool, write: Writer) -> list[Path]:
    """Save confusion_matrix.png (image datasets) and samples.png (--preview) with ``write(path, fill)``
    (the task's atomic writer); return the files written."""
    if split.image_shape is None:
        if preview:
            log.warning("--preview: %s has no images; no %s written", split.source, SAMPLES_FILE)
        return []
    if _matplotlib() is None:
        if preview:
            log.warning("--preview needs matplotlib (pip install 'aml-runner[plots]'); no pictures written")
        return []
    jobs = [(CONFUSION_FILE, lambda: confusion_figure(split, predicted))]
    if preview:
        jobs.insert(0, (SAMPLES_FILE, lambda: samples_figure(split)))
    written = []
    for name, draw in jobs:
        try:
            _write_png(write, draw(), output_dir / name)
            written.append(output_dir / name)
        except Exception as exc:  # noqa: BLE001 - a picture is an extra; the run's results are not at stake
            log.warning("could not draw %s: %s: %s", name, type(exc).__name__, exc)
    return written


def _write_png(write: Writer, fig: Any, path: Path) -> None:
    write(path, lambda fh: fig.savefig(fh, format="png", dpi=100, bbox_inches="tight"))


def _label(split: Split, label: int) -> str:
    return split.class_names[label] if split.class_names else str(label)


def samples_figure(split: Split, seed: int = 0) -> Any:
    """A grid of up to 30 random training images, each titled with its label (as the tutorials show)."""
    from matplotlib.figure import Figure

    rng = np.random.default_rng(seed)
    count = min(N_SAMPLES, len(split.y_train))
    picks = rng.choice(len(split.y_train), size=count, replace=False)
    rows = -(-count // SAMPLE_COLUMNS)
    fig = Figure(figsize=(SAMPLE_COLUMNS * 1.2, rows * 1.4))
    for i, index in enumerate(picks):
        ax = fig.add_subplot(rows, SAMPLE_COLUMNS, i + 1)
        ax.imshow(split.X_train[index].reshape(split.image_shape), cmap="Greys")
        ax.set_title(_label(split, int(split.y_train[index])), fontsize=12)
        ax.set_axis_off()
    fig.suptitle(f"{split.source}: {count} random training images")
    return fig


def confusion_figure(split: Split, predicted: np.ndarray) -> Any:
    """The test-set confusion matrix: true label down, predicted label across, counts in the cells."""
    from matplotlib.figure import Figure
    from sklearn.metrics import confusion_matrix

    labels = np.union1d(split.y_test, predicted)
    matrix = confusion_matrix(split.y_test, predicted, labels=labels)
    size = max(4.0, 0.5 * len(labels) + 2)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax)
    names = [_label(split, int(label)) for label in labels]
    ax.set_xticks(range(len(labels)), names)
    ax.set_yticks(range(len(labels)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), value in np.ndenumerate(matrix):
        ax.text(col, row, str(value), ha="center", va="center", fontsize=8,
                color="white" if value > threshold else "black")
    accuracy = np.trace(matrix) / max(1, matrix.sum())
    ax.set_title(f"{split.source}: confusion matrix (accuracy {accuracy:.4f})")
    return fig
