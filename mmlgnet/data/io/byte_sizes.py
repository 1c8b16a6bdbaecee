"""Check that a raster file holds exactly the bytes its header declares, before any pixel is read.

GDAL reads an ENVI binary that is shorter than its header declares with the missing pixels as zeros, and
`np.load(mmap_mode='r')` accepts a .npy file with extra bytes; those zeros would then be trained on and mapped
as real data. So every reader (readers.read_raster/read_labels, windows.open_raster, matfiles' .mat reads)
compares the file's size with what its format declares and refuses any difference with a DataError that names
the file, the expected and the actual byte counts, and the fix:

- ENVI: header offset + samples x lines x bands x item size (from the dataset GDAL opened), and the header's
  `interleave` must be bsq, bil or bip (GDAL reads any other value as bsq);
- .npy: the header's length + prod(shape) x item size;
- MATLAB v5: the end of its last top-level data element (miMATRIX / miCOMPRESSED) is the end of the file;
- MATLAB v7.3 (HDF5): the superblock's end-of-file address (what the HDF5 library itself checks).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

from mmlgnet.data.io.download import DataError

__all__ = ["check_envi", "check_mat_size", "load_npy", "ENVI_INTERLEAVES"]

ENVI_INTERLEAVES = ("bsq", "bil", "bip")
_ENVI_FIX = ("Re-download or re-export the file; check the header's samples/lines/bands/data type/header offset "
             "against the binary.")


def _size_error(name: object, what: str, expected: int, actual: int, fix: str) -> DataError:
    how = ("truncated: refused rather than read with the missing pixels as zeros" if actual < expected
           else "longer than declared: the header does not describe this file")
    return DataError(f"{name}: {what} declares {expected} bytes but the file has {actual} bytes ({how}). {fix}")


def _envi_header_values(header: Path) -> dict[str, str]:
    """The `key = value` entries of an ENVI header, keys lower-case; `{...}` values may span lines."""
    values: dict[str, str] = {}
    lines = iter(header.read_text(encoding="latin-1").splitlines()[1:])  # line 1 is "ENVI"
    for line in lines:
        if "=" not in line:
            continue
        key, value = (s.strip() for s in line.split("=", 1))
        if value.startswith("{"):
            while "}" not in value:
                value += " " + next(lines, "}")
        values[key.lower()] = value
    return values


def check_envi(path: Path, data_file: Path, ds: Any) -> None:
    """Refuse an ENVI raster (open rasterio dataset `ds` of `data_file`, as given by the user at `path`)
    whose interleave is unknown or whose binary is not exactly header offset + samples x lines x bands x
    item size bytes. Other GDAL drivers are left alone (self-describing formats fail on truncated blocks)."""
    if ds.driver != "ENVI":
        return
    headers = [Path(f) for f in (ds.files or []) if Path(f).suffix.lower() == ".hdr"]
    if not headers:
        return
    header = headers[0]
    try:
        values = _envi_header_values(header)
    except OSError as err:
        raise DataError(f"{header}: cannot read the ENVI header ({err}); check its permissions.") from err
    interleave = values.get("interleave", "bsq")  # GDAL's (and ENVI's) default
    if interleave.lower() not in ENVI_INTERLEAVES:
        raise DataError(f"{header}: unknown ENVI `interleave = {interleave}`; allowed: "
                        f"{', '.join(ENVI_INTERLEAVES)} (case-insensitive). Set the value the binary {data_file.name}"
                        f" was written with, or re-export the file.")
    try:
        offset = int(values.get("header offset", "0"))
    except ValueError:
        raise DataError(f"{header}: `header offset = {values['header offset']}` is not a whole number of bytes. "
                        f"{_ENVI_FIX}") from None
    item = np.dtype(ds.dtypes[0]).itemsize
    expected = offset + ds.width * ds.height * ds.count * item
    actual = data_file.stat().st_size
    if actual != expected:
        what = (f"its ENVI header {header.name} (header offset {offset} + {ds.width} samples x {ds.height} lines "
                f"x {ds.count} bands x {item} bytes ({ds.dtypes[0]}))")
        name = data_file if data_file == path else f"{path} (data file {data_file})"
        raise _size_error(name, what, expected, actual, _ENVI_FIX)


def _npy_expected(path: Path) -> int | None:
    """Header length + data bytes a .npy header declares; None when numpy's own errors should speak."""
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                return None  # version 3 only adds utf-8 field names (structured dtypes, refused later)
            data_at = fh.tell()
    except (ValueError, OSError, EOFError, SyntaxError):
        return None
    if dtype.hasobject:
        return None  # pickled objects: np.load(allow_pickle=False) refuses them
    return data_at + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize


def load_npy(path: Path) -> np.ndarray:
    """`np.load(path, mmap_mode='r')` after checking the file holds exactly the bytes its header declares."""
    expected = _npy_expected(path)
    if expected is not None and (actual := path.stat().st_size) != expected:
        raise _size_error(path, "its .npy header (header length + shape x item size)", expected, actual,
                          "Save the array again with numpy.save, or re-download the file.")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"{path}: cannot read the .npy file ({err}). It is empty, truncated, corrupt or holds "
                        f"Python objects; save the array again with numpy.save.") from err


def _mat_v5_end(fh: Any, size: int, endian: str) -> int:
    """Where the last whole top-level data element of a v5 MAT-file ends (128 = header only)."""
    pos = 128
    while size - pos >= 8:
        fh.seek(pos)
        kind, nbytes = struct.unpack(endian + "II", fh.read(8))
        if kind not in (14, 15):  # miMATRIX, miCOMPRESSED: the only top-level elements MATLAB writes
            break
        end = pos + 8 + nbytes + ((-nbytes) % 8 if kind == 14 else 0)  # miMATRIX is padded to 8 bytes
        if end > size:
            return end  # truncated: it declares bytes beyond the end of the file
        pos = end
    return pos


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _hdf5_end(fh: Any, size: int) -> int | None:
    """The end-of-file address in the HDF5 superblock (at 0, 512, 1024, ...); None if not found."""
    at = 0
    while at + 64 <= size:
        fh.seek(at)
        block = fh.read(96)
        if block[:8] == _HDF5_SIGNATURE:
            version = block[8]
            if version in (0, 1):
                o = block[13]
                base_at = 24 if version == 0 else 28
            elif version in (2, 3):
                o = block[9]
                base_at = 12
            else:
                return None
            fmt = {4: "<I", 8: "<Q"}.get(o)
            if fmt is None:
                return None
            # HDF5 compares this address with the file's size (H5F__super_read: relative eof + base address)
            return int(struct.unpack(fmt, block[base_at + 2 * o:base_at + 3 * o])[0])
        at = 512 if at == 0 else at * 2
    return None


def check_mat_size(path: Path, version: str, fix: str) -> None:
    """Refuse a .mat file whose size differs from what its structure declares (see the module docstring);
    `fix` ends the message (matfiles' how to fetch or re-export the file).

    MATLAB v4 files (no 128-byte header) are left to scipy, whose reads fail on missing bytes."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if version == "7.3":
            expected = _hdf5_end(fh, size)
            what = "its HDF5 superblock (end-of-file address)"
        else:
            fh.seek(126)
            tag = fh.read(2)
            if size < 128 or tag not in (b"IM", b"MI"):
                return
            expected = _mat_v5_end(fh, size, "<" if tag == b"IM" else ">")
            what = "its MATLAB v5 structure (data element sizes)"
    if expected is not None and expected != size:
        raise _size_error(path, what, expected, size, fix)
