"""Read and write MATLAB .mat files (v5 and v7.3/HDF5), including the MUUFL GatorSense struct file."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import h5py
import numpy as np
import scipy.io

# MATLAB writes this class name as an HDF5 attribute so that MATLAB's `load` knows each array's type.
_MATLAB_CLASS = {
    np.dtype("float64"): "double",
    np.dtype("float32"): "single",
    np.dtype("uint8"): "uint8",
    np.dtype("int8"): "int8",
    np.dtype("uint16"): "uint16",
    np.dtype("int16"): "int16",
    np.dtype("uint32"): "uint32",
    np.dtype("int32"): "int32",
    np.dtype("uint64"): "uint64",
    np.dtype("int64"): "int64",
    np.dtype("bool"): "logical",
}


class MatKeyError(KeyError):
    """A requested variable is not in a .mat file (the message lists the variables that are)."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message and escape newlines
        return str(self.args[0])


def _missing_key(path: Path, key: str, present: list[str]) -> MatKeyError:
    return MatKeyError(
        f"{path}: no variable {key!r}; the file holds {sorted(present)}. "
        f"Check that this is the right file for its name (a renamed or re-exported copy may use another key) "
        f"or re-download it."
    )


def read_mat(path: Path, key: str) -> np.ndarray:
    """Return variable `key` of a MATLAB file with MATLAB's axis order, e.g. (H, W, C).

    v7.3 files are HDF5 and are read with h5py; HDF5 stores MATLAB's column-major arrays with the axes
    reversed, so the array is transposed back to match what MATLAB (and scipy for v5 files) shows.
    """
    path = Path(path)
    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as f:
            if key not in f or not isinstance(f[key], h5py.Dataset):
                present = [k for k in f.keys() if not k.startswith("#")]
                raise _missing_key(path, key, present)
            return np.ascontiguousarray(f[key][()].T)
    data = scipy.io.loadmat(path, variable_names=[key])
    if key not in data:
        raise _missing_key(path, key, [name for name, _, _ in scipy.io.whosmat(path)])
    return data[key]


def _matlab_header(version: str) -> bytes:
    """The 128-byte MAT-file header: 116 bytes text, 8 bytes subsystem offset, version, endian tag."""
    text = f"MATLAB {version} MAT-file, Platform: GLNXA64, Created on: {time.asctime()} HDF5 schema 1.00 ."
    return text.encode("ascii").ljust(116, b" ")[:116] + b" " * 8 + b"\x00\x02" + b"IM"


def write_mat(path: Path, arrays: dict[str, np.ndarray], version: Literal["5", "7.3"] = "5") -> Path:
    """Write `arrays` to a .mat file in MATLAB's own layout (used to build test fixtures in real formats).

    v7.3 files are HDF5 with a 512-byte userblock whose first 128 bytes are the MATLAB header, and each
    array is stored transposed (column-major) with a `MATLAB_class` attribute, as MATLAB does.
    """
    path = Path(path)
    if version == "5":
        scipy.io.savemat(path, arrays, do_compression=True)
        return path
    if version != "7.3":
        raise ValueError(f"write_mat: version must be '5' or '7.3', got {version!r}")
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in arrays.items():
            arr = np.asarray(value)
            if arr.dtype not in _MATLAB_CLASS:
                raise ValueError(
                    f"write_mat: cannot store {name!r} of dtype {arr.dtype} in a v7.3 file; "
                    f"cast it to one of {sorted(str(d) for d in _MATLAB_CLASS)}"
                )
            ds = f.create_dataset(name, data=arr.T, compression="gzip")
            ds.attrs["MATLAB_class"] = np.bytes_(_MATLAB_CLASS[arr.dtype])
    with open(path, "r+b") as fh:
        fh.write(_matlab_header("7.3"))
    return path


@dataclass(frozen=True, eq=False)
class GatorSenseScene:
    """The arrays of the MUUFL Gulfport GatorSense struct file that a scene needs."""

    hsi: np.ndarray  # (H, W, C_hsi)
    lidar: np.ndarray  # (H, W, C_lidar), first LiDAR struct's `.z`
    labels: np.ndarray  # (H, W) int64, −1 (unlabelled) already mapped to 0
    class_names: tuple[str, ...]
    wavelengths_nm: np.ndarray | None


def read_gatorsense(path: Path) -> GatorSenseScene:
    """Read `hsi.Data`, `hsi.Lidar[0].z`, `hsi.sceneLabels` and `hsi.info.wavelength` of the MUUFL file."""
    path = Path(path)
    data = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    if "hsi" not in data:
        present = [k for k in data if not k.startswith("__")]
        raise _missing_key(path, "hsi", present)
    hsi = data["hsi"]
    try:
        lidar = hsi.Lidar
        if isinstance(lidar, (list, tuple, np.ndarray)):  # a struct array (one entry per LiDAR flight)
            lidar = np.asarray(lidar, dtype=object).flat[0]
        z = np.asarray(lidar.z)
        labels = np.asarray(hsi.sceneLabels.labels).astype(np.int64)  # (H, W)
        names = tuple(str(n).strip() for n in np.atleast_1d(hsi.sceneLabels.Materials_Type))
        cube = np.asarray(hsi.Data)
    except AttributeError as err:
        raise ValueError(
            f"{path}: not a GatorSense MUUFL struct file ({err}); expected hsi.Data, hsi.Lidar[0].z and "
            f"hsi.sceneLabels.labels. Use muufl_gulfport_campus_1_hsi_220_label.mat from the v0.1 release."
        ) from err
    wavelengths = None
    info = getattr(hsi, "info", None)
    if info is not None and hasattr(info, "wavelength"):
        wavelengths = np.asarray(info.wavelength, dtype=np.float64).ravel()
    labels[labels < 0] = 0  # the file marks unlabelled pixels with −1
    if z.ndim == 2:
        z = z[:, :, None]
    return GatorSenseScene(hsi=cube, lidar=z, labels=labels, class_names=names, wavelengths_nm=wavelengths)


def write_gatorsense(
    path: Path,
    hsi: np.ndarray,
    lidar: np.ndarray,
    labels: np.ndarray,
    class_names: tuple[str, ...],
    wavelengths_nm: np.ndarray | None = None,
) -> Path:
    """Write a MATLAB v5 struct file shaped like the GatorSense MUUFL file (labels: 0 becomes −1)."""
    path = Path(path)
    lab = np.asarray(labels).astype(np.int16)
    lab[lab == 0] = -1
    lidar_struct = np.empty((1, 1), dtype=[("z", object)])  # a 1×1 struct array, like the real `hsi.Lidar`
    lidar_struct[0, 0]["z"] = np.asarray(lidar)
    hsi_struct: dict[str, object] = {
        "Data": np.asarray(hsi),
        "Lidar": lidar_struct,
        "sceneLabels": {"labels": lab, "Materials_Type": np.array(list(class_names), dtype=object)},
    }
    if wavelengths_nm is not None:
        hsi_struct["info"] = {"wavelength": np.asarray(wavelengths_nm, dtype=np.float64)}
    scipy.io.savemat(path, {"hsi": hsi_struct}, do_compression=True)
    return path
