"""Checked conversion of the raw arrays read from a scene's files into rasters: image cubes and label maps."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from mmlgnet.data.io.download import DataError

CubeRole = Literal["hsi", "lidar"]

REDOWNLOAD = "Delete the file and fetch it again (pass --data.download true), or replace it with a copy from its source."
_EXPECTED_DIMS: dict[str, tuple[int, ...]] = {"hsi": (3,), "lidar": (2, 3)}
_EXPECTED_SHAPE = {"hsi": "(H, W, C): rows, columns, bands", "lidar": "(H, W) or (H, W, C): one raster or a stack"}
_WHAT = {"hsi": "hyperspectral cube", "lidar": "LiDAR raster"}
# What an array of a non-real dtype kind holds, for the messages (check_real; matfiles names MATLAB variables so).
DTYPE_KINDS = {"b": "true/false values", "c": "complex numbers", "O": "a cell array or object references",
               "V": "a struct or compound record (as complex numbers are in v7.3 files)", "U": "text", "S": "text"}


def where(path: Path | str, key: str | None) -> str:
    """How an error names an array: the file, and the .mat variable when there is one."""
    return f"{path}" if key is None else f"{path} (variable {key!r})"


def check_real(dtype: np.dtype, path: Path | str, key: str | None, what: str, fix: str) -> None:
    """The one dtype rule of image arrays: real numbers (integer or floating point); a DataError naming the file,
    the variable and what the dtype holds otherwise (booleans would become 0/1 data, complex would lose a part)."""
    if dtype.kind not in "iuf":
        holds = f" ({DTYPE_KINDS[dtype.kind]})" if dtype.kind in DTYPE_KINDS else ""
        raise DataError(f"{where(path, key)}: expected {what} (integer or floating point), got dtype {dtype}{holds}. "
                        f"{fix}")


def as_hwc(array: np.ndarray, path: Path | str, key: str | None, dims: tuple[int, ...] = (2, 3),
           expected: str = "a raster of shape (H, W) or (H, W, C) (rows, columns, bands)",
           what: str = "real numbers",
           fix: str = "Check the file (and variable) is the scene's raster, written with a numeric type.") -> np.ndarray:
    """A non-empty real numeric array of rank in `dims` -> (H, W, C), keeping its dtype (a view, no copy).

    The shape and dtype checks of every image array read whole (readers.read_raster, as_cube) or by windows
    (mmlgnet.data.io.windows); `expected`, `what` and `fix` word the DataError for the caller.
    """
    a = np.asarray(array)
    if a.ndim not in dims or a.size == 0:
        raise DataError(f"{where(path, key)}: expected {expected}, got shape {a.shape}. {fix}")
    check_real(a.dtype, path, key, what, fix)
    return a[:, :, None] if a.ndim == 2 else a  # (H, W, C)


def as_cube(array: np.ndarray, path: Path | str, key: str | None, role: CubeRole) -> np.ndarray:
    """A real numeric HSI (H, W, C) or LiDAR (H, W) / (H, W, C) array -> (H, W, C) float32.

    Anything else (a (pixels, bands) feature table, a 4-D stack, booleans, an empty array) is a DataError
    naming the file, the variable and the shape that was expected.
    """
    a = np.asarray(array)
    hint = ""
    if role == "hsi" and a.ndim == 2:
        hint = "A 2-D array is a single band or a (pixels, bands) feature table (e.g. HSI_TrSet.mat), not an image. "
    cube = as_hwc(a, path, key, _EXPECTED_DIMS[role], f"a {_WHAT[role]} of shape {_EXPECTED_SHAPE[role]}",
                  f"a real numeric {_WHAT[role]}", f"{hint}Check that this is the scene's image file with the right "
                  f"variable; {REDOWNLOAD}")
    return cube.astype(np.float32, copy=False)  # (H, W, C)


def as_label_map(array: np.ndarray, path: Path | str, key: str | None) -> np.ndarray:
    """A 2-D map of integer class ids (integer dtype, or floats holding whole numbers) -> (H, W) int64.

    Refused with a DataError naming the file: another rank, booleans (a logical mask would otherwise become
    class 1 everywhere it is true), NaN/inf, and fractional values (astype would silently truncate 1.5 to 1).
    MATLAB `double` label maps hold whole numbers and are accepted. The range 0..K is checked per scene.
    """
    a = np.asarray(array)
    fix = ("A label map holds integer class ids (0 = unlabelled, 1..K). Check that this is the right file, "
           f"or re-export the labels as integers (e.g. uint8). {REDOWNLOAD}")
    if a.ndim != 2 or a.size == 0:
        raise DataError(f"{where(path, key)}: expected a label map of shape (H, W), got shape {a.shape}. {fix}")
    if a.dtype.kind == "b":
        raise DataError(f"{where(path, key)}: expected integer class ids, got a logical (true/false) mask, which "
                        f"would make every true pixel class 1. {fix}")
    if a.dtype.kind in "iu":
        return a.astype(np.int64, copy=False)
    if a.dtype.kind != "f":
        raise DataError(f"{where(path, key)}: expected integer class ids, got dtype {a.dtype}. {fix}")
    finite = np.isfinite(a)
    safe = np.where(finite, a, 0)
    bad = ~finite | (a != np.round(safe)) | (np.abs(safe) > 2**31)  # huge values: int64 casts are undefined
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{where(path, key)}: expected integer class ids, got {int(bad.sum())} non-integer value(s) "
            f"(NaN, inf, fractional or beyond ±2^31), first {a[first]!r} at (row, col) {first}; truncating them "
            f"would assign pixels to the wrong class. {fix}"
        )
    return a.astype(np.int64)
