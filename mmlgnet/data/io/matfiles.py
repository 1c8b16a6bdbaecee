"""Read and write MATLAB .mat files (v5 and v7.3/HDF5), including the MUUFL GatorSense struct file."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
import scipy.io
import scipy.sparse

from mmlgnet.data.io.byte_sizes import check_mat_size
from mmlgnet.data.io.download import DataError, MissingDataError
from mmlgnet.data.io.rasters import DTYPE_KINDS, as_cube, as_label_map

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


class MatKeyError(DataError, KeyError):
    """A requested variable is not in a .mat file (the message lists the variables that are)."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message and escape newlines
        return str(self.args[0])


def _missing_key(path: Path, key: str, present: list[str]) -> MatKeyError:
    return MatKeyError(
        f"{path}: no variable {key!r}; the file holds {sorted(present)}. "
        f"Check that this is the right file for its name (a renamed or re-exported copy may use another key) "
        f"or re-download it."
    )


_REFETCH = ("Delete it and fetch it again (pass --data.download true), or re-export it with MATLAB `save` (v5 or "
            "-v7.3) or scipy.io.savemat.")
_HOW = f"The file is empty, truncated or corrupt, or not a MATLAB file. {_REFETCH}"
# A MATLAB class an image or label array cannot have (v7.3 stores them as datasets with this attribute).
_NOT_NUMERIC = {"char": "text", "cell": "a cell array", "struct": "a struct", "function_handle": "a function handle"}


def mat_version(path: Path) -> Literal["5", "7.3"]:
    """'7.3' for an HDF5 file, '5' otherwise; a DataError for a missing, empty or broken v7.3 file, and for a
    file whose size is not what its structure declares (byte_sizes.check_mat_size: truncated or padded)."""
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"{path}: no such file. Put it there, or pass --data.download true to fetch it.")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes), expected a MATLAB .mat file. {_HOW}")
    try:
        with open(path, "rb") as fh:
            head = fh.read(19)
    except OSError as err:
        raise DataError(f"{path}: cannot open the file ({err}); check its permissions.") from err
    if h5py.is_hdf5(path):
        check_mat_size(path, "7.3", _REFETCH)
        return "7.3"
    if head == b"MATLAB 7.3 MAT-file":
        raise DataError(f"{path}: MATLAB v7.3 header but no readable HDF5 body after it. {_HOW}")
    check_mat_size(path, "5", _REFETCH)
    return "5"


def _unreadable(path: Path, key: str, version: str, err: Exception) -> DataError:
    return DataError(f"{path}: cannot read variable {key!r} as a MATLAB v{version} file "
                     f"({type(err).__name__}: {err}). {_HOW}")


def _numeric(path: Path, key: str, array: Any) -> np.ndarray:
    """The array if it is real numbers or booleans; a DataError naming the file and the key otherwise."""
    if scipy.sparse.issparse(array):  # a MATLAB sparse matrix (v5)
        array = array.toarray()
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        dtype = getattr(array, "dtype", type(array).__name__)
        what = DTYPE_KINDS.get(getattr(dtype, "kind", ""), f"a {dtype}")
        raise DataError(f"{path}: variable {key!r} holds {what} (dtype {dtype}), expected a real numeric array "
                        f"(an image cube or a label map). Check that this is the right file for its name. {_HOW}")
    return array


def hdf5_variable(f: h5py.File, path: Path, key: str, matlab_header: bool) -> tuple[h5py.Dataset, str | None]:
    """The dataset of MATLAB variable `key` in the open v7.3 file `f` and its MATLAB class, checked, not read.

    Shared by read_mat (whole array) and mmlgnet.data.io.windows (slices): a missing key, a group (struct, cell,
    sparse), an HDF5 file MATLAB did not write, an empty array or a non-numeric class is a DataError.
    """
    if key not in f:
        raise _missing_key(path, key, [k for k in f.keys() if not k.startswith("#")])
    node = f[key]
    if not isinstance(node, h5py.Dataset):
        raise DataError(f"{path}: variable {key!r} is a struct, cell or sparse matrix (an HDF5 group), "
                        f"expected a numeric array. Check that this is the right file for its name. {_HOW}")
    cls = node.attrs.get("MATLAB_class")
    cls = cls.decode() if isinstance(cls, bytes) else cls
    if cls is None and not matlab_header:
        raise DataError(
            f"{path}: an HDF5 file but not a MATLAB v7.3 file (no MATLAB header, no MATLAB_class attribute on "
            f"{key!r}), so its axis order is unknown. Use the original .mat file (re-download it with "
            f"--data.download true), or save the array from MATLAB (`save -v7.3`) or with scipy.io.savemat."
        )
    if node.attrs.get("MATLAB_empty"):
        raise DataError(f"{path}: variable {key!r} is an empty MATLAB array, expected an image or label map. "
                        f"{_HOW}")
    if cls in _NOT_NUMERIC:
        raise DataError(f"{path}: variable {key!r} holds {_NOT_NUMERIC[cls]} (MATLAB class {cls}), expected a "
                        f"real numeric array. Check that this is the right file for its name. {_HOW}")
    if node.dtype.kind not in "biuf":
        _numeric(path, key, np.empty(0, dtype=node.dtype))  # raises the DataError naming what it holds
    return node, cls


def has_matlab_header(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(6) == b"MATLAB"


def _read_hdf5(path: Path, key: str) -> np.ndarray:
    matlab_header = has_matlab_header(path)
    with h5py.File(path, "r") as f:
        node, cls = hdf5_variable(f, path, key, matlab_header)
        array = _numeric(path, key, node[()])
    if cls == "logical":
        array = array.astype(bool)  # MATLAB stores logical arrays as uint8 with this class
    return np.ascontiguousarray(array.T)


def _read_v5(path: Path, key: str) -> np.ndarray:
    data = _loadmat(path, key, variable_names=[key])
    if key not in data:
        raise _missing_key(path, key, [name for name, _, _ in scipy.io.whosmat(path)])
    return _numeric(path, key, data[key])


def _loadmat(path: Path, key: str, **kwargs: Any) -> dict[str, Any]:
    """scipy.io.loadmat with MATLAB's own classes (logical -> bool, not uint8); complex data is refused
    rather than cast to real, which mat_dtype=True would otherwise do with a mere warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        try:
            return scipy.io.loadmat(path, mat_dtype=True, **kwargs)
        except np.exceptions.ComplexWarning as err:
            raise DataError(f"{path}: variable {key!r} holds complex numbers, expected a real numeric array (an "
                            f"image cube or a label map). Check that this is the right file for its name. {_HOW}"
                            ) from err


def read_mat(path: Path, key: str) -> np.ndarray:
    """Return variable `key` of a MATLAB file with MATLAB's axis order, e.g. (H, W, C).

    v7.3 files are HDF5 and are read with h5py; HDF5 stores MATLAB's column-major arrays with the axes
    reversed, so the array is transposed back to match what MATLAB (and scipy for v5 files) shows. Every
    failure is a DataError that names the file and the variable: a missing key, an empty, truncated or
    random-bytes file, an HDF5 file that MATLAB did not write, text, cells, structs or complex numbers
    (real numbers and booleans are returned; the caller checks the shape and the meaning).
    """
    path = Path(path)
    version = mat_version(path)
    try:
        return _read_hdf5(path, key) if version == "7.3" else _read_v5(path, key)
    except (DataError, MemoryError):
        raise
    except Exception as err:  # scipy, h5py and zlib raise many types on broken bytes; all mean "corrupt"
        raise _unreadable(path, key, version, err) from err


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
    """Read `hsi.Data`, `hsi.Lidar[0].z`, `hsi.sceneLabels` and `hsi.info.wavelength` of the MUUFL file.

    Every failure (an unreadable file, another struct, arrays of the wrong shape or type) is a DataError
    that names the file and the struct field.
    """
    path = Path(path)
    if mat_version(path) != "5":
        raise DataError(f"{path}: a MATLAB v7.3 (HDF5) file, but the GatorSense MUUFL struct file is MATLAB v5. "
                        f"Use muufl_gulfport_campus_1_hsi_220_label.mat from the v0.1 release (--data.download true).")
    try:
        data = _loadmat(path, "hsi", squeeze_me=True, struct_as_record=False)
    except (DataError, MemoryError):
        raise
    except Exception as err:  # scipy and zlib raise many types on broken bytes
        raise _unreadable(path, "hsi", "5", err) from err
    if "hsi" not in data:
        present = [k for k in data if not k.startswith("__")]
        raise _missing_key(path, "hsi", present)
    hsi = data["hsi"]
    try:
        lidar = hsi.Lidar
        if isinstance(lidar, (list, tuple, np.ndarray)):  # a struct array (one entry per LiDAR flight)
            lidar = np.asarray(lidar, dtype=object).flat[0]
        z, raw_labels, cube = lidar.z, hsi.sceneLabels.labels, hsi.Data
        names = tuple(str(n).strip() for n in np.atleast_1d(hsi.sceneLabels.Materials_Type))
    except (AttributeError, IndexError) as err:
        raise DataError(
            f"{path}: not a GatorSense MUUFL struct file ({err}); expected hsi.Data, hsi.Lidar[0].z and "
            f"hsi.sceneLabels.labels. Use muufl_gulfport_campus_1_hsi_220_label.mat from the v0.1 release."
        ) from err
    cube = as_cube(_numeric(path, "hsi.Data", cube), path, "hsi.Data", "hsi")  # (H, W, C) float32
    z = as_cube(_numeric(path, "hsi.Lidar(1).z", z), path, "hsi.Lidar(1).z", "lidar")  # (H, W, C_lidar)
    labels = as_label_map(_numeric(path, "hsi.sceneLabels.labels", raw_labels), path, "hsi.sceneLabels.labels")
    labels[labels == -1] = 0  # the file marks unlabelled pixels with −1; other negatives fail the range check
    wavelengths = None
    info = getattr(hsi, "info", None)
    if info is not None and hasattr(info, "wavelength"):
        wavelengths = np.asarray(info.wavelength, dtype=np.float64).ravel()
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
