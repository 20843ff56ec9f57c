"""Azure Open Datasets: the one place the runner calls azureml-opendatasets (lazily, telemetry off)."""

from __future__ import annotations

import os
from pathlib import Path


def download_mnist(target: Path) -> None:
    """Download the four MNIST idx files into ``target`` (needs the network and the azure extra)."""
    os.environ.setdefault("HBI_WORKSPACE_JOB", "true")  # keeps the SDK's telemetry off
    from azureml.opendatasets import MNIST

    MNIST.get_file_dataset(enable_telemetry=False).download(target_path=str(target), overwrite=False)
