"""Lazy raster sources: open a scene file without reading its pixels, then read any (rows, cols) window of it.

`open_raster(path, key, bands)` takes the same arguments as `readers.read_raster` (a scene card's file entry:
path, .mat key, 1-based band subset) and checks the file the same way (readers' extension, band and dtype
checks, matfiles' MATLAB checks), but reads nothing but the header. `source.read(rows, cols)` then returns the
(h, w, c) window, float32 by default, equal to the same window of `read_raster(...).array`. Per format:

- GeoTIFF / ENVI / any GDAL raster: rasterio windows (only the blocks under the window are decoded);
- `.npy`: `np.load(mmap_mode='r')` (the OS pages in the window's rows);
- MATLAB v7.3 (HDF5): h5py slices of the dataset, which stores MATLAB's (H, W, C) as (C, W, H);
- MATLAB v5: scipy cannot slice these files, so the variable is loaded WHOLE when the source is opened (v5 files
  are small: their format caps a variable at 2 GB); `whole_file` is then True.

Used by the streaming prediction (mmlgnet.data.sampling.tiles) and the memory-bounded training data, so that a scene
larger than memory is never held at once.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window

from mmlgnet.data.io.byte_sizes import check_envi, load_npy
from mmlgnet.data.io.download import DataError
from mmlgnet.data.io.matfiles import has_matlab_header, hdf5_variable, mat_version, read_mat
from mmlgnet.data.io.rasters import check_real, where
from mmlgnet.data.io.readers import (
    GDAL_EXTENSIONS,
    REEXPORT,
    SUPPORTED,
    band_indices,
    check_file,
    envi_data_file,
    raster_bands,
)

__all__ = ["WindowSource", "open_raster"]

_GDAL_CACHE_MB = 64  # GDAL's block cache (default 5 % of RAM): windows are read once, a small cache suffices


class WindowSource:
    """A raster opened for windowed reads: (H, W, C) after the band subset, native dtype, georeferencing.

    Attributes: `path`, `key` (.mat variable), `shape` (H, W, C), `dtype` (the file's), `nodata` (GDAL nodata of
    the first kept band, None when the format has none), `crs` / `transform` (as `readers.Raster`: None when not
    georeferenced), `whole_file` (True when the format forced a full load: MATLAB v5).
    """

    path: Path
    key: str | None
    shape: tuple[int, int, int]
    dtype: np.dtype
    nodata: float | None = None
    crs: str | None = None
    transform: tuple[float, ...] | None = None
    whole_file: bool = False

    @property
    def nbytes(self) -> int:
        """Bytes of the whole raster as float32 (what reading it in memory costs)."""
        h, w, c = self.shape
        return h * w * c * 4

    def read(self, rows: slice, cols: slice, bands: Sequence[int] | None = None,
             dtype: Any = np.float32) -> np.ndarray:
        """The window rows x cols -> (h, w, c) array of `dtype` (None: the file's own dtype).

        `rows`/`cols`: slices with step 1 inside the raster (None bounds allowed); `bands`: 0-based positions
        among this source's bands (after the card's subset), default all.
        """
        r0, r1 = _bounds(rows, self.shape[0], "rows", self)
        c0, c1 = _bounds(cols, self.shape[1], "cols", self)
        idx = list(range(self.shape[2])) if bands is None else [int(b) for b in bands]
        if not idx or any(not 0 <= b < self.shape[2] for b in idx):
            raise ValueError(f"{where(self.path, self.key)}: band positions {bands} outside 0..{self.shape[2] - 1}")
        out = self._read(r0, r1, c0, c1, idx)  # (h, w, c) native dtype
        return out if dtype is None else out.astype(dtype, copy=False)

    def _read(self, r0: int, r1: int, c0: int, c1: int, idx: list[int]) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        """Release the file handle (reads reopen it)."""

    def __enter__(self) -> WindowSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({where(self.path, self.key)}, shape={self.shape}, dtype={self.dtype})"


def _bounds(s: slice, n: int, what: str, src: WindowSource) -> tuple[int, int]:
    start = 0 if s.start is None else int(s.start)
    stop = n if s.stop is None else int(s.stop)
    if s.step not in (None, 1) or not 0 <= start < stop <= n:
        raise ValueError(f"{where(src.path, src.key)}: window {what} {s} is empty or outside 0..{n} (step 1 only)")
    return start, stop


class GdalSource(WindowSource):
    """GeoTIFF, ENVI (.hdr or its data file) and other GDAL rasters, read with rasterio windows."""

    def __init__(self, path: Path, bands: Sequence[int] | None) -> None:
        self.path, self.key = path, None
        self.file = envi_data_file(path) if path.suffix.lower() == ".hdr" else path
        self._ds: Any = None
        self._pid = -1
        ds = self._open()
        try:
            check_envi(path, self.file, ds)  # at open time: GDAL would fill a short ENVI binary's windows with zeros
        except DataError:
            self.close()
            raise
        self.band_index = band_indices(path, ds.count, bands)  # 0-based file bands
        self.dtype = np.dtype(ds.dtypes[self.band_index[0]])
        check_real(self.dtype, path, None, "real numbers", REEXPORT)
        self.shape = (ds.height, ds.width, len(self.band_index))
        georef = ds.crs is not None or not ds.transform.is_identity
        nodata = ds.nodatavals[self.band_index[0]]
        self.nodata = None if nodata is None else float(nodata)
        self.crs = ds.crs.to_string() if ds.crs is not None else None
        self.transform = tuple(float(v) for v in tuple(ds.transform)[:6]) if georef else None

    def _open(self) -> Any:
        if self._ds is None or self._pid != os.getpid():  # a forked worker opens its own handle
            try:
                with warnings.catch_warnings(), rasterio.Env(**_cache()):  # GDAL fixes its cache size on first use
                    warnings.simplefilter("ignore", NotGeoreferencedWarning)
                    self._ds, self._pid = rasterio.open(self.file), os.getpid()
            except RasterioError as err:
                raise _corrupt(self.path, self.file, err) from err
        return self._ds

    def _read(self, r0: int, r1: int, c0: int, c1: int, idx: list[int]) -> np.ndarray:
        ds = self._open()
        try:
            with warnings.catch_warnings(), rasterio.Env(**_cache()):
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                block = ds.read([self.band_index[i] + 1 for i in idx], window=Window(c0, r0, c1 - c0, r1 - r0))
        except RasterioError as err:
            raise _corrupt(self.path, self.file, err) from err
        return block.transpose(1, 2, 0)  # (C, h, w) -> (h, w, C)

    def close(self) -> None:
        if self._ds is not None and self._pid == os.getpid():
            self._ds.close()
        self._ds = None


def _cache() -> dict[str, int]:
    """GDAL's block cache for windowed reads: _GDAL_CACHE_MB unless the user set GDAL_CACHEMAX."""
    return {} if "GDAL_CACHEMAX" in os.environ else {"GDAL_CACHEMAX": _GDAL_CACHE_MB}


def _corrupt(path: Path, source: Path, err: Exception) -> DataError:
    return DataError(
        f"{path}: cannot read the raster ({type(err).__name__}: {err}). The file is empty, truncated, corrupt "
        f"or not in the format its extension says; check it with `gdalinfo {source}` and replace it with a "
        f"good copy from its source.")


class ArraySource(WindowSource):
    """A (H, W) or (H, W, C) array-like read by slicing: a `.npy` memory map, or a loaded MATLAB v5 variable."""

    def __init__(self, path: Path, key: str | None, array: np.ndarray, bands: Sequence[int] | None,
                 whole_file: bool) -> None:
        self.path, self.key, self.whole_file = path, key, whole_file
        cube = raster_bands(path, key, array, None)  # (H, W, C) view: rank, size and dtype checks as read_raster
        self.band_index = band_indices(path, cube.shape[2], bands)
        self.array, self.dtype = cube, cube.dtype
        self.shape = (cube.shape[0], cube.shape[1], len(self.band_index))

    def _read(self, r0: int, r1: int, c0: int, c1: int, idx: list[int]) -> np.ndarray:
        chosen = [self.band_index[i] for i in idx]
        return np.array(self.array[r0:r1, c0:c1][:, :, chosen])  # (h, w, c), a copy (not a view of the map)


class Mat73Source(WindowSource):
    """A MATLAB v7.3 (HDF5) variable read by h5py slices; HDF5 holds MATLAB's (H, W, C) as (C, W, H)."""

    def __init__(self, path: Path, key: str, bands: Sequence[int] | None) -> None:
        self.path, self.key = path, key
        self._f: h5py.File | None = None
        self._pid = -1
        node, cls = self._node()
        if node.ndim not in (2, 3) or node.size == 0:
            raise DataError(f"{where(path, key)}: expected a raster of shape (H, W) or (H, W, C) (rows, columns, "
                            f"bands), got shape {node.shape[::-1]}. Check the file (and variable) is the scene's "
                            f"raster.")
        self.dtype = np.dtype(bool) if cls == "logical" else np.dtype(node.dtype)
        check_real(self.dtype, path, key, "real numbers", REEXPORT)
        h, w = node.shape[-1], node.shape[-2]
        c = node.shape[0] if node.ndim == 3 else 1
        self.band_index = band_indices(path, c, bands)
        self.shape = (h, w, len(self.band_index))

    def _node(self) -> tuple[h5py.Dataset, str | None]:
        try:
            if self._f is None or self._pid != os.getpid():
                self._f, self._pid = h5py.File(self.path, "r"), os.getpid()
            assert self.key is not None
            return hdf5_variable(self._f, self.path, self.key, has_matlab_header(self.path))
        except DataError:
            raise
        except Exception as err:  # h5py raises many types on broken bytes
            raise DataError(f"{where(self.path, self.key)}: cannot read the MATLAB v7.3 file ({type(err).__name__}: "
                            f"{err}). Replace it with a good copy.") from err

    def _read(self, r0: int, r1: int, c0: int, c1: int, idx: list[int]) -> np.ndarray:
        node, _ = self._node()
        if node.ndim == 2:
            return np.asarray(node[c0:c1, r0:r1]).T[:, :, None]  # (W, H) -> (h, w, 1)
        chosen = [self.band_index[i] for i in idx]
        lo, hi = min(chosen), max(chosen) + 1  # h5py takes increasing indices only: read the span, then pick
        block = np.asarray(node[lo:hi, c0:c1, r0:r1])  # (c_span, w, h)
        return block.transpose(2, 1, 0)[:, :, [b - lo for b in chosen]]  # (h, w, c)

    def close(self) -> None:
        if self._f is not None and self._pid == os.getpid():
            self._f.close()
        self._f = None


def open_raster(path: str | Path, key: str | None = None, bands: Sequence[int] | None = None) -> WindowSource:
    """Open an image raster for windowed reads, by extension (the formats and errors of readers.read_raster).

    `bands`: 1-based band numbers to keep, in that order (as in a scene card). Nothing but the header is read,
    except for MATLAB v5 files (loaded whole: see the module docstring).
    """
    path = Path(path)
    ext = check_file(path, SUPPORTED)
    if ext in GDAL_EXTENSIONS or ext == ".hdr":
        return GdalSource(path, bands)
    if ext == ".npy":
        return ArraySource(path, None, load_npy(path), bands, whole_file=False)
    if key is None:
        raise DataError(f"{path}: a .mat file holds named variables; give the one to read as `key` (in a scene "
                        f"card: {{path: {path.name}, key: NAME}}).")
    if mat_version(path) == "7.3":
        return Mat73Source(path, key, bands)
    return ArraySource(path, key, read_mat(path, key), bands, whole_file=True)
