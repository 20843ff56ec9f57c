"""The local backend: run the task script as a subprocess in the run folder, as the cluster would."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from runner import datasets
from runner.backends.base import RegisteredModel, RunResult
from runner.errors import ConfigError, TaskError
from runner.outputs import OUTPUTS, read_outputs
from runner.plan import Plan
from runner.registry import LocalRegistry, RegistrationRequest

log = logging.getLogger(__name__)
task_log = logging.getLogger("runner.task")
TAIL_LINES = 15
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                    "NUMEXPR_NUM_THREADS")


class LocalBackend:
    """Runs ``python tasks/<script> <argv>`` with the run folder as the working directory."""

    name = "local"

    def describe(self, plan: Plan) -> str:
        """The command line that would run."""
        command = " ".join([Path(sys.executable).name, str(plan.script_path), *plan.argv])
        return f"  command      {command}\n  working dir  <run folder> (outputs/ goes there)\n"

    def run(self, plan: Plan) -> RunResult:
        """Run the task to completion; TaskError carries its error line or the tail of its log."""
        run_dir = Path(plan.run_dir)
        datasets.prepare_local(plan.dataset)  # local data exists; the MNIST cache is filled (or a DataError)
        _check_inputs(plan, run_dir)
        log.info("Running %s locally in %s", plan.script, run_dir)
        started = time.perf_counter()
        code, tail = _stream(
            [sys.executable, str(plan.script_path), *plan.argv], cwd=run_dir, log_path=run_dir / "task.log",
            env=task_env(getattr(plan.compute, "threads", None)),
        )
        duration = time.perf_counter() - started
        if code != 0:
            raise TaskError(_failure_message(plan, code, tail, run_dir / "task.log"))
        return _collect(run_dir / OUTPUTS, run_dir, duration)

    def register(self, plan: Plan, result: RunResult, request: RegistrationRequest) -> RegisteredModel:
        """Register into the local registry at ``registration.registry_dir``."""
        entry = LocalRegistry(Path(plan.registration.registry_dir)).register(request)
        return RegisteredModel(entry.name, entry.version, str(entry.path), entry.sha256)


def _check_inputs(plan: Plan, run_dir: Path) -> None:
    # The data itself is checked by datasets.prepare_local (per source); here: the run folder.
    if (run_dir / OUTPUTS / "metrics.json").exists():
        raise ConfigError(
            f"The run folder {run_dir} already holds a finished run; it is kept as it is. "
            "Choose a new folder with hydra.run.dir=<path> (or leave it unset for a fresh timestamped one)."
        )


def task_env(threads: int | None) -> dict[str, str]:
    """The task's environment: unbuffered output and, when set, a cap on BLAS/OpenMP threads."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if threads is not None:
        for name in THREAD_VARIABLES:
            env[name] = str(threads)
    return env


def _stream(command: list[str], cwd: Path, log_path: Path, env: dict[str, str]) -> tuple[int, list[str]]:
    """Run ``command``, copy its output to ``log_path`` and the log, return (exit code, last lines)."""
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    cwd.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as sink, subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None  # guaranteed by stdout=PIPE
        for line in proc.stdout:
            sink.write(line)
            tail.append(line.rstrip("\n"))
            task_log.info("  | %s", line.rstrip("\n"))
    return proc.returncode, list(tail)


def _failure_message(plan: Plan, code: int, tail: list[str], log_path: Path) -> str:
    errors = [line for line in tail if "error:" in line]
    if code == 2 and errors:
        reason = errors[-1].split("error:", 1)[1].strip()
        return f"The task {plan.script} rejected its input: {reason} (full log: {log_path})."
    shown = "\n    ".join(tail) or "(no output)"
    return f"The task {plan.script} failed with exit code {code}. Last lines of {log_path}:\n    {shown}"


def _collect(outputs: Path, run_dir: Path, duration: float) -> RunResult:
    found = read_outputs(outputs, "The task finished")
    return RunResult(
        backend="local",
        status="completed",
        run_dir=run_dir,
        metrics=found.metrics,
        params=found.params,
        model_file=found.model_file,
        data_fingerprint=found.fingerprint,
        duration_seconds=duration,
    )
