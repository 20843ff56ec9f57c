"""Tests for runner.registry: versions, metadata, failures that leave nothing behind, races."""

from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from runner import registry
from runner.errors import ConfigError, RegistryError
from runner.registry import LocalRegistry, RegistrationRequest, check_model_name

NAME = "sklearn_mnist"


def make_request(model_file: Path, name: str = NAME, **changes: object) -> RegistrationRequest:
    """Return a complete request for model_file, with any field overridden by changes."""
    fields: dict[str, object] = {
        "model_name": name,
        "model_file": model_file,
        "framework": "ScikitLearn",
        "framework_version": "1.3.0",
        "metrics": {"accuracy": 0.9, "f1": 0.85},
        "tags": {"git_commit": "abc123", "git_dirty": "false", "config_hash": "f00d"},
        "description": "logistic regression on digits",
        "resource_configuration": {"cpu": 1, "memory_in_gb": 0.5},
        "source_run": "runs/digits/2024-01-01/12-00-00",
        "properties": {"data_fingerprint": {"rows": 1797, "sha256": "beef"}},
    }
    fields.update(changes)
    return RegistrationRequest(**fields)  # type: ignore[arg-type]


def write_model(folder: Path, content: bytes = b"pickled model", name: str = "model.pkl") -> Path:
    """Write a fake model file and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    return path


def leftovers(model_dir: Path) -> list[str]:
    """Return hidden entries (staging folders, temp files) in a model folder."""
    return sorted(p.name for p in model_dir.glob(".*"))


@pytest.fixture()
def reg(tmp_path: Path) -> LocalRegistry:
    """A registry under tmp_path/registry."""
    return LocalRegistry(tmp_path / "registry")


@pytest.fixture()
def model_file(tmp_path: Path) -> Path:
    """A fake model file."""
    return write_model(tmp_path / "run")


def test_sequential_versions(reg: LocalRegistry, model_file: Path) -> None:
    entries = [reg.register(make_request(model_file)) for _ in range(3)]
    assert [e.version for e in entries] == [1, 2, 3]
    assert reg.versions(NAME) == [1, 2, 3]
    for entry in entries:
        assert entry.name == NAME
        assert entry.path == reg.root / NAME / str(entry.version)
        assert entry.model_file == entry.path / "model.pkl"
        assert entry.model_file.read_bytes() == model_file.read_bytes()
    assert leftovers(reg.root / NAME) == []


def test_model_json_contents(reg: LocalRegistry, model_file: Path) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    entry = reg.register(make_request(model_file))
    text = (entry.path / "model.json").read_text(encoding="utf-8")
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    digest = hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert entry.sha256 == digest
    created = datetime.fromisoformat(data.pop("created"))
    assert created.utcoffset() == timedelta(0)
    assert before <= created <= datetime.now(timezone.utc)
    assert data == {
        "name": NAME,
        "version": 1,
        "framework": "ScikitLearn",
        "framework_version": "1.3.0",
        "description": "logistic regression on digits",
        "metrics": {"accuracy": 0.9, "f1": 0.85},
        "tags": {"git_commit": "abc123", "git_dirty": "false", "config_hash": "f00d"},
        "properties": {"data_fingerprint": {"rows": 1797, "sha256": "beef"}},
        "resource_configuration": {"cpu": 1, "memory_in_gb": 0.5},
        "model_file": "model.pkl",
        "sha256": digest,
        "bytes": len(model_file.read_bytes()),
        "source_run": "runs/digits/2024-01-01/12-00-00",
    }


def test_optional_fields_and_odd_metrics(reg: LocalRegistry, model_file: Path) -> None:
    nan_loss = {"loss": float("nan")}
    reg.register(make_request(model_file, resource_configuration=None, metrics=nan_loss))
    assert reg.read(NAME)["resource_configuration"] is None
    assert reg.read(NAME)["metrics"] == {"loss": None}  # JSON has no NaN
    with pytest.raises(RegistryError, match="metric 'accuracy' is 'high', which is not a number"):
        reg.register(make_request(model_file, metrics={"accuracy": "high"}))
    assert sorted(p.name for p in (reg.root / NAME).iterdir()) == ["1"]


def test_verify(reg: LocalRegistry, model_file: Path) -> None:
    entry = reg.register(make_request(model_file))
    assert reg.verify(NAME, 1) is True
    entry.model_file.write_bytes(b"tampered")
    assert reg.verify(NAME, 1) is False
    entry.model_file.unlink()
    assert reg.verify(NAME, 1) is False
    with pytest.raises(RegistryError, match="has no version 2"):
        reg.verify(NAME, 2)


def test_read_latest_by_version_and_missing(reg: LocalRegistry, tmp_path: Path) -> None:
    assert reg.versions(NAME) == [] and reg.models() == []
    with pytest.raises(RegistryError, match="registered models: none"):
        reg.read(NAME)
    for i in range(3):
        reg.register(make_request(write_model(tmp_path / f"run{i}"), description=f"run {i}"))
    assert reg.read(NAME)["version"] == 3
    assert reg.read(NAME)["description"] == "run 2"
    assert reg.read(NAME, 1)["description"] == "run 0"
    with pytest.raises(RegistryError) as missing_version:
        reg.read(NAME, 7)
    assert str(missing_version.value) == f"model '{NAME}' has no version 7; versions: 1, 2, 3."
    with pytest.raises(RegistryError) as missing_name:
        reg.read("other_model")
    message = str(missing_name.value)
    assert "no model named 'other_model'" in message
    assert f"registered models: {NAME}." in message


@pytest.mark.parametrize("name", ["sklearn_mnist", "a", "9", "A-1.2_b", "model.v2", "x" * 255])
def test_valid_names(name: str) -> None:
    check_model_name(name)


@pytest.mark.parametrize(
    "name",
    ["my model!", "", "-lead", ".hidden", "_under", "a/b", "a\\b", "ünï", "x" * 256, "a b"],
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(ConfigError, match="is not a valid model name"):
        check_model_name(name)


def test_invalid_name_message_and_nothing_created(reg: LocalRegistry, model_file: Path) -> None:
    with pytest.raises(ConfigError) as info:
        reg.register(make_request(model_file, name="my model!"))
    assert str(info.value) == (
        "registration.model_name 'my model!' is not a valid model name: it must start with a "
        "letter or digit and contain only letters, digits, '-', '_' and '.' "
        "(at most 255 characters), e.g. 'sklearn_mnist'."
    )
    assert not reg.root.exists()


def test_missing_model_file(reg: LocalRegistry, tmp_path: Path) -> None:
    reg.register(make_request(write_model(tmp_path / "run")))
    with pytest.raises(RegistryError, match="does not exist"):
        reg.register(make_request(tmp_path / "nowhere" / "model.pkl"))
    with pytest.raises(RegistryError, match="may not be called 'model.json'"):
        reg.register(make_request(write_model(tmp_path / "run", name="model.json")))
    assert sorted(p.name for p in (reg.root / NAME).iterdir()) == ["1"]


def test_unwritable_root(tmp_path: Path, model_file: Path) -> None:
    root = tmp_path / "registry"
    root.write_text("a file, not a folder")
    with pytest.raises(RegistryError, match="is not writable"):
        LocalRegistry(root).register(make_request(model_file))
    assert root.read_text() == "a file, not a folder"


def test_existing_versions_never_overwritten(reg: LocalRegistry, tmp_path: Path) -> None:
    model_dir = reg.root / NAME
    (model_dir / "1").mkdir(parents=True)
    (model_dir / "1" / "model.json").write_text('{"sentinel": 1}')
    (model_dir / "2").mkdir()  # a stray empty folder must not be replaced
    (model_dir / "3").mkdir()  # an incomplete version (no model.json) is skipped too
    (model_dir / "3" / "partial").write_text("half")
    entry = reg.register(make_request(write_model(tmp_path / "run")))
    assert entry.version == 4
    assert (model_dir / "1" / "model.json").read_text() == '{"sentinel": 1}'
    assert list((model_dir / "2").iterdir()) == []
    assert (model_dir / "3" / "partial").read_text() == "half"
    assert reg.versions(NAME) == [1, 4]


def test_versions_ignores_hidden_and_non_integer(reg: LocalRegistry, model_file: Path) -> None:
    model_dir = reg.root / NAME
    for odd in (".staging-deadbeef", "latest", "01", "0", "-1", "2.0"):
        (model_dir / odd).mkdir(parents=True)
        (model_dir / odd / "model.json").write_text("{}")
    (model_dir / "7").write_text("a file named like a version")
    assert reg.versions(NAME) == []
    assert reg.register(make_request(model_file)).version == 8
    assert reg.versions(NAME) == [8]


def test_failure_while_writing_metadata_leaves_nothing(
    reg: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg.register(make_request(write_model(tmp_path / "run0")))
    original = (reg.root / NAME / "1" / "model.json").read_bytes()

    def broken_writer(path: Path, data: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(registry, "write_json", broken_writer)
    with pytest.raises(RegistryError, match="No space left on device"):
        reg.register(make_request(write_model(tmp_path / "run1")))
    assert sorted(p.name for p in (reg.root / NAME).iterdir()) == ["1"]
    assert (reg.root / NAME / "1" / "model.json").read_bytes() == original


def test_rename_race_takes_next_version(
    reg: LocalRegistry, model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_rename = os.rename
    calls: list[str] = []

    def racing_rename(src: str | Path, dst: str | Path) -> None:
        calls.append(Path(dst).name)
        if len(calls) == 1:  # another process claims the version between our check and rename
            Path(dst).mkdir()
            (Path(dst) / "model.json").write_text('{"other": true}')
        real_rename(src, dst)

    monkeypatch.setattr(registry.os, "rename", racing_rename)
    entry = reg.register(make_request(model_file))
    assert calls == ["1", "2"]
    assert entry.version == 2
    assert reg.read(NAME, 2)["version"] == 2
    assert reg.verify(NAME, 2)
    assert (reg.root / NAME / "1" / "model.json").read_text() == '{"other": true}'
    assert leftovers(reg.root / NAME) == []


def test_unexpected_rename_error_leaves_nothing(
    reg: LocalRegistry, model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(src: str | Path, dst: str | Path) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(registry.os, "rename", denied)
    with pytest.raises(RegistryError, match="Permission denied"):
        reg.register(make_request(model_file))
    assert list((reg.root / NAME).iterdir()) == []


def _register_in_process(
    root: str, model_path: str, worker: int, count: int, barrier: object
) -> None:
    """Child process: wait for every sibling, then register the same model name count times."""
    barrier.wait()  # type: ignore[attr-defined]
    local = LocalRegistry(Path(root))
    for _ in range(count):
        local.register(make_request(Path(model_path), tags={"worker": str(worker)}))


@pytest.mark.parametrize("per_process", [1, 4])
def test_parallel_processes_get_distinct_versions(tmp_path: Path, per_process: int) -> None:
    processes = 8
    root = tmp_path / "registry"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    models = [write_model(tmp_path / f"w{i}", f"model of worker {i}".encode()) for i in range(8)]
    workers = [
        context.Process(
            target=_register_in_process, args=(str(root), str(m), i, per_process, barrier)
        )
        for i, m in enumerate(models)
    ]
    for proc in workers:
        proc.start()
    for proc in workers:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in workers] == [0] * processes
    reg = LocalRegistry(root)
    total = processes * per_process
    assert reg.versions(NAME) == list(range(1, total + 1))
    on_disk = sorted(p.name for p in (root / NAME).iterdir())
    assert on_disk == sorted(str(v) for v in range(1, total + 1))  # no staging leftovers
    seen: dict[str, int] = {}
    for version in range(1, total + 1):
        data = reg.read(NAME, version)
        assert data["version"] == version
        assert reg.verify(NAME, version)
        worker = data["tags"]["worker"]
        stored = (root / NAME / str(version) / "model.pkl").read_bytes()
        assert stored == f"model of worker {worker}".encode()
        seen[worker] = seen.get(worker, 0) + 1
    assert seen == {str(i): per_process for i in range(processes)}
