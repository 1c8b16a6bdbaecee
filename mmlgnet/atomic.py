"""Atomic file writes (temp file + os.replace) so an interrupted run never leaves a half-written result."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


def _replace_from_temp(path: Path, write: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    """Write `obj` as indented JSON, atomically."""
    data = json.dumps(obj, indent=2, sort_keys=False, default=_json_default).encode()
    return _replace_from_temp(Path(path), lambda f: f.write(data))


def write_bytes(path: str | Path, data: bytes) -> Path:
    return _replace_from_temp(Path(path), lambda f: f.write(data))


def save_npz(path: str | Path, **arrays: np.ndarray) -> Path:
    """np.savez_compressed, atomically."""
    return _replace_from_temp(Path(path), lambda f: np.savez_compressed(f, **arrays))


def save_npy(path: str | Path, array: np.ndarray) -> Path:
    """np.save, atomically."""
    return _replace_from_temp(Path(path), lambda f: np.save(f, array))


def save_torch(path: str | Path, obj: Any) -> Path:
    """torch.save, atomically."""
    return _replace_from_temp(Path(path), lambda f: torch.save(obj, f))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
