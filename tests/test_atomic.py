"""Atomic writers: files get the mode a plain open() gives (umask honoured), and write_json is strict JSON."""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from mmlgnet import atomic
from mmlgnet.atomic import save_npy, save_npz, save_torch, to_strict_json, write_bytes, write_json


def _strict_loads(text: str):
    """json.loads that refuses NaN / Infinity / -Infinity instead of accepting them as Python does."""
    return json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))


@pytest.fixture
def umask() -> Iterator[None]:
    """Restore the process umask after a test that sets it."""
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


WRITERS = {
    "json": lambda p: write_json(p, {"a": 1}),
    "bytes": lambda p: write_bytes(p, b"x"),
    "npy": lambda p: save_npy(p, np.zeros(2)),
    "npz": lambda p: save_npz(p, a=np.zeros(2)),
    "torch": lambda p: save_torch(p, {"a": torch.zeros(2)}),
}


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077], ids=["022", "002", "077"])
def test_written_files_get_the_mode_plain_open_gives(mask: int, umask: None, tmp_path: Path) -> None:
    os.umask(mask)
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    expected = stat.S_IMODE(plain.stat().st_mode)
    assert expected == 0o666 & ~mask
    for name, write in WRITERS.items():
        path = write(tmp_path / "sub" / f"out.{name}")
        assert stat.S_IMODE(path.stat().st_mode) == expected, name
    # an existing 0600 file (written by an older version) is replaced by one with the umask's mode
    old = tmp_path / "old.json"
    old.write_bytes(b"{}")
    old.chmod(0o600)
    assert stat.S_IMODE(write_json(old, {}).stat().st_mode) == expected
    assert not list(tmp_path.rglob("*.tmp"))


def test_umask_is_read_without_changing_it(umask: None, monkeypatch: pytest.MonkeyPatch) -> None:
    os.umask(0o002)
    assert atomic.current_umask() == 0o002
    assert atomic.default_file_mode() == 0o664
    assert os.umask(0o002) == 0o002  # still set: reading it did not touch it
    # without /proc (macOS, old kernels): the value read once at import time
    monkeypatch.setattr(atomic, "_umask_from_proc", lambda: None)
    monkeypatch.setattr(atomic, "_IMPORT_UMASK", atomic._umask_by_setting())
    assert atomic.current_umask() == 0o002
    assert os.umask(0o002) == 0o002


def test_checkpoint_io_gets_the_umask_mode(umask: None, tmp_path: Path) -> None:
    """AtomicCheckpointIO (cli.py) writes through torch.save to a named tmp: it honours the umask too."""
    from mmlgnet.cli import AtomicCheckpointIO

    os.umask(0o002)
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {}}, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o664


def test_write_json_is_strict(tmp_path: Path) -> None:
    nan = float("nan")
    record = {
        "AA": nan, "OA": 91.5, "inf": float("inf"), "minus_inf": -math.inf,
        "np_float": np.float32("nan"), "np_double": np.float64(2.5), "np_int": np.int64(3), "np_bool": np.bool_(True),
        "array": np.array([1.0, nan]), "int_array": np.arange(2),
        "tensor": torch.tensor([nan, 0.5]), "scalar_tensor": torch.tensor(nan), "int_tensor": torch.tensor(4),
        "nested": {"per_class": [50.0, nan, (nan, 1)]}, "path": Path("a/b"), "none": None, "flag": False,
    }
    text = write_json(tmp_path / "m.json", record).read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert _strict_loads(text) == {
        "AA": None, "OA": 91.5, "inf": None, "minus_inf": None,
        "np_float": None, "np_double": 2.5, "np_int": 3, "np_bool": True,
        "array": [1.0, None], "int_array": [0, 1],
        "tensor": [None, 0.5], "scalar_tensor": None, "int_tensor": 4,
        "nested": {"per_class": [50.0, None, [None, 1]]}, "path": "a/b", "none": None, "flag": False,
    }


def test_write_json_rejects_what_json_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="object"):
        write_json(tmp_path / "bad.json", {"x": object()})
    assert not (tmp_path / "bad.json").exists()
    assert to_strict_json({"k": (1, 2.0)}) == {"k": [1, 2.0]}
