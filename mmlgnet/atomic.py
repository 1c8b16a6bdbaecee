"""Atomic file writes (temp file + os.replace) so an interrupted run never leaves a half-written result."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch


def _umask_from_proc() -> int | None:
    """The umask from /proc/self/status (Linux ≥ 4.7): reading it there changes nothing, unlike os.umask."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _umask_by_setting() -> int:
    """The umask by setting and restoring it: process-global, so done once, at import, never per write."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _umask_at_import() -> int:
    mask = _umask_from_proc()
    return _umask_by_setting() if mask is None else mask


_IMPORT_UMASK = _umask_at_import()


def current_umask() -> int:
    """The process umask, read without changing it: /proc/self/status where it exists (so a later
    os.umask() call is honoured), else the value read once when this module was imported."""
    mask = _umask_from_proc()
    return _IMPORT_UMASK if mask is None else mask


def default_file_mode() -> int:
    """The mode a plain open(path, "w") gives a new file: 0o666 minus the umask (0o644 under umask 022)."""
    return 0o666 & ~current_umask()


def _replace_from_temp(path: Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write through a temp file in the same folder, then os.replace it onto `path`.

    mkstemp creates the temp file 0600 whatever the umask; it is given the mode a plain open() would
    give (0o666 & ~umask) before the replace, so results are as readable by collaborators as any other
    file of the run (checkpoints, CSV logs).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, default_file_mode())
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
    """Write `obj` as indented strict JSON, atomically.

    Non-finite floats (NaN, ±inf; also NumPy floats, arrays and tensors holding them) become null: an
    undefined value (e.g. the accuracy of a class without test pixels) must not produce a file that
    strict parsers (JavaScript, jq, Go) reject. `allow_nan=False` guarantees no NaN slips through.
    """
    data = json.dumps(to_strict_json(obj), indent=2, sort_keys=False, allow_nan=False).encode()
    return _replace_from_temp(Path(path), lambda f: f.write(data))


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data`, atomically."""
    return _replace_from_temp(Path(path), lambda f: f.write(data))


def save_npz(path: str | Path, **arrays: np.ndarray) -> Path:
    """np.savez_compressed, atomically."""
    named: dict[str, Any] = dict(arrays)  # numpy's stub types **kwds like its allow_pickle: bool
    return _replace_from_temp(Path(path), lambda f: np.savez_compressed(f, **named))


def save_npy(path: str | Path, array: np.ndarray) -> Path:
    """np.save, atomically."""
    return _replace_from_temp(Path(path), lambda f: np.save(f, array))


def save_torch(path: str | Path, obj: Any) -> Path:
    """torch.save, atomically."""
    return _replace_from_temp(Path(path), lambda f: torch.save(obj, f))


def to_strict_json(o: Any) -> Any:
    """`o` with every value JSON can hold strictly: non-finite floats → None; NumPy scalars/arrays and
    tensors → Python numbers/lists; Paths → str; tuples → lists; mapping keys kept (json rejects bad ones)."""
    if o is None or isinstance(o, (int, str)):  # bool is an int
        return o
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, Mapping):
        return {k: to_strict_json(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [to_strict_json(v) for v in o]
    if isinstance(o, (np.ndarray, np.generic)):
        return to_strict_json(o.tolist())
    if isinstance(o, torch.Tensor):
        return to_strict_json(o.detach().cpu().tolist())
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
