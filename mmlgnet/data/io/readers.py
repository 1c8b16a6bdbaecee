"""Read a scene's rasters and label maps by file extension: GDAL rasters (rasterio), ENVI, .mat, .npy, ENVI ROI text."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window

from mmlgnet.data.io.byte_sizes import check_envi, load_npy
from mmlgnet.data.io.download import DataError, MissingDataError
from mmlgnet.data.io.envi_roi import read_envi_roi
from mmlgnet.data.io.matfiles import read_mat
from mmlgnet.data.io.rasters import as_hwc, as_label_map, check_real, where
from mmlgnet.errors import is_int

# Opened with rasterio (GDAL). ENVI data files (.img/.dat/.bsq/...) are found through the .hdr beside them.
GDAL_EXTENSIONS = (".tif", ".tiff", ".gtiff", ".vrt", ".img", ".dat", ".bsq", ".bil", ".bip", ".raw", ".envi",
                   ".jp2", ".nc")
ENVI_DATA_EXTENSIONS = ("", ".img", ".dat", ".bsq", ".bil", ".bip", ".raw", ".bin", ".envi")
SUPPORTED = (*GDAL_EXTENSIONS, ".hdr", ".mat", ".npy")
LABEL_SUPPORTED = (*SUPPORTED, ".txt")
_CHUNK_BYTES = 32 * 2**20  # bytes per rasterio read window: bounds the transient (C, rows, cols) buffer
_GDAL_CACHE_MB = 64
REEXPORT = "Re-export the raster with a numeric type."


@dataclass(frozen=True, eq=False)
class Raster:
    """One raster read from disk: its array and (when the format carries them) georeferencing and nodata."""

    path: Path
    # (H, W, C), C >= 1: float32 from read_raster (a read-only memory map for a float32 .npy without a band
    # subset); from read_labels the (H, W, 1) int64 label map.
    array: np.ndarray
    crs: str | None  # rasterio CRS.to_string(): "EPSG:xxxx" or WKT; None if not georeferenced
    transform: tuple[float, ...] | None  # affine (a, b, c, d, e, f) as rasterio's Affine[:6]; None if none
    nodata: float | None  # GDAL nodata of the (first kept) band; None if the file declares none


def check_file(path: Path, supported: Sequence[str]) -> str:
    """The lower-case extension of an existing file whose format we read; a DataError otherwise."""
    ext = path.suffix.lower()
    if not path.is_file():
        what = "a directory" if path.is_dir() else "no such file"
        raise MissingDataError(f"{path}: {what}; expected a raster file. Check the path (relative paths in a "
                               f"scene card are relative to the card's folder).", missing=[str(path)])
    if ext not in supported:
        hint = (" A .txt file is read as ENVI ROI text only as a label source (labels/train/test)."
                if ext == ".txt" else "")
        raise DataError(
            f"{path}: unknown raster extension {ext or '(none)'!r}; supported: {', '.join(supported)}.{hint} "
            f"Convert the file, e.g. `gdal_translate {path.name} {path.stem}.tif`, or rename it if it is one of "
            f"these formats under another name."
        )
    return ext


def envi_data_file(header: Path) -> Path:
    """The binary an ENVI header describes: same name without .hdr, or with a usual ENVI data extension."""
    stem = header.with_suffix("")
    candidates = [stem.with_name(stem.name + ext) for ext in ENVI_DATA_EXTENSIONS]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise MissingDataError(
        f"{header}: ENVI header without its data file; looked for {', '.join(c.name for c in candidates)} in "
        f"{header.parent}. Put the binary beside the header with one of these names, or give the data file's "
        f"path instead of the header's.", missing=[str(candidates[0])])


def band_indices(path: Path, count: int, bands: Sequence[int] | None) -> list[int]:
    """0-based indices of the 1-based `bands` (all when None); a DataError naming the valid range."""
    if bands is None:
        return list(range(count))
    chosen = list(bands)
    bad = [b for b in chosen if not is_int(b) or not 1 <= b <= count]
    if not chosen or bad:
        found = f"bad band number(s) {bad}" if bad else "an empty list"
        raise DataError(f"{path}: `bands` must list 1-based band numbers in 1..{count} (the file has {count} "
                        f"band(s)); got {found}. Fix the band list.")
    return [int(b) - 1 for b in chosen]


def _read_windows(ds: Any, idx: list[int], out: np.ndarray) -> None:
    """Fill `out` (H, W, C) from the open dataset `ds`, a window of whole GDAL blocks at a time.

    Windows span whole blocks (tiles, or strips of rows) so no block is decoded twice, and hold about
    _CHUNK_BYTES, which bounds the transient (C, rows, cols) buffer: peak memory = result + one window.
    """
    h, w, c = out.shape
    block_h, block_w = ds.block_shapes[idx[0]]
    cols = w if block_w >= w else block_w
    rows_fit = _CHUNK_BYTES // max(1, cols * c * out.dtype.itemsize)
    rows = max(1, rows_fit // max(1, block_h)) * max(1, block_h)
    for row in range(0, h, rows):
        for col in range(0, w, cols):
            win = Window(col, row, min(cols, w - col), min(rows, h - row))
            block = ds.read([i + 1 for i in idx], window=win, out_dtype=out.dtype)  # (C, rows, cols)
            out[row:row + win.height, col:col + win.width] = block.transpose(1, 2, 0)


def _read_gdal(path: Path, bands: Sequence[int] | None, native: bool, one_band: bool = False) -> Raster:
    """Read with rasterio into one (H, W, C) array (float32, or the file's dtype when `native`)."""
    source = envi_data_file(path) if path.suffix.lower() == ".hdr" else path
    # GDAL's block cache defaults to 5% of RAM; every block is read once here, so a small cache keeps the peak
    # RSS near the result's own bytes (a user's GDAL_CACHEMAX wins).
    cache = {} if "GDAL_CACHEMAX" in os.environ else {"GDAL_CACHEMAX": _GDAL_CACHE_MB}
    try:
        with warnings.catch_warnings(), rasterio.Env(**cache):
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(source) as ds:
                check_envi(path, source, ds)  # before any read: GDAL fills a short ENVI binary with zeros
                if one_band and ds.count != 1:
                    raise _not_one_band(path, None, ds.count)
                idx = band_indices(path, ds.count, bands)
                dtype = np.dtype(ds.dtypes[idx[0]])
                check_real(dtype, path, None, "real numbers", REEXPORT)
                out = np.empty((ds.height, ds.width, len(idx)), dtype=dtype if native else np.float32)  # (H, W, C)
                _read_windows(ds, idx, out)
                georef = ds.crs is not None or not ds.transform.is_identity
                nodata = ds.nodatavals[idx[0]]
                return Raster(
                    path=path, array=out,
                    crs=ds.crs.to_string() if ds.crs is not None else None,
                    transform=tuple(float(v) for v in tuple(ds.transform)[:6]) if georef else None,
                    nodata=None if nodata is None else float(nodata),
                )
    except RasterioError as err:
        raise DataError(
            f"{path}: cannot read the raster ({type(err).__name__}: {err}). The file is empty, truncated, corrupt "
            f"or not in the format its extension says; check it with `gdalinfo {source}` and replace it with a "
            f"good copy from its source."
        ) from err


def _not_one_band(path: Path, key: str | None, count: int) -> DataError:
    return DataError(f"{where(path, key)}: expected a label map with one band, got {count} bands. Give a "
                     f"single-band file of class ids (0 = unlabelled).")


def _read_array(path: Path, ext: str, key: str | None) -> np.ndarray:
    """The raw array of a .npy or .mat file (a memory map for .npy)."""
    if ext == ".mat":
        if key is None:
            raise DataError(f"{path}: a .mat file holds named variables; give the one to read as `key` (in a scene "
                            f"card: {{path: {path.name}, key: NAME}}).")
        return read_mat(path, key)
    return load_npy(path)


def raster_bands(path: Path, key: str | None, array: np.ndarray, bands: Sequence[int] | None) -> np.ndarray:
    """A 2-D or 3-D numeric array -> (H, W, C) with the chosen bands, keeping its dtype (no copy if possible)."""
    cube = as_hwc(array, path, key)  # (H, W, C): rank, size and dtype checks (rasters.as_hwc)
    return cube if bands is None else cube[:, :, band_indices(path, cube.shape[2], bands)]


def read_raster(path: str | Path, key: str | None = None, bands: Sequence[int] | None = None) -> Raster:
    """Read an image raster as (H, W, C) float32, by extension.

    .tif/.tiff/.vrt/.img/... -> rasterio (GDAL); .hdr -> the ENVI data file beside the header; .mat -> the
    variable `key` (required); .npy -> memory-mapped. `bands`: 1-based band numbers to keep, in that order.
    Every problem (missing file, corrupt bytes, a file size other than its header declares (byte_sizes),
    unknown extension, wrong rank, non-numeric dtype, bad band number, .mat without key) is a DataError naming
    the file, what was expected and the fix.
    """
    return _read(Path(path), key, bands, SUPPORTED, native=False)


def _read(path: Path, key: str | None, bands: Sequence[int] | None, supported: Sequence[str],
          native: bool, one_band: bool = False) -> Raster:
    ext = check_file(path, supported)
    if ext in GDAL_EXTENSIONS or ext == ".hdr":
        return _read_gdal(path, bands, native, one_band)
    cube = raster_bands(path, key, _read_array(path, ext, key), bands)
    if one_band and cube.shape[2] != 1:
        raise _not_one_band(path, key, cube.shape[2])
    return Raster(path=path, array=cube if native else cube.astype(np.float32, copy=False),
                  crs=None, transform=None, nodata=None)


def read_labels(
    path: str | Path, key: str | None = None, shape: tuple[int, int] | None = None
) -> tuple[np.ndarray, tuple[str, ...] | None, Raster | None]:
    """A label map (H, W) int64 (0 = unlabelled), its class names when the source has them, and its Raster.

    `.txt` files are ENVI ROI ASCII exports (ROI order = class 1..K, ROI names = class names, no Raster);
    `shape` (H, W) is then checked against the file's dimension. Raster sources must have one band of whole
    numbers (rasters.as_label_map's checks); pixels equal to the file's GDAL nodata become 0 (unlabelled).
    Their Raster carries the georeferencing, with the label map as its (H, W, 1) array.
    """
    path = Path(path)
    ext = check_file(path, LABEL_SUPPORTED)
    if ext == ".txt":
        labels, names = read_envi_roi(path, shape)
        return labels, names, None
    raster = _read(path, key, None, LABEL_SUPPORTED, native=True, one_band=True)
    band = np.asarray(raster.array[:, :, 0])  # (H, W)
    if raster.nodata is not None and band.dtype.kind == "f" and np.isnan(raster.nodata):
        band = np.where(np.isnan(band), 0, band)
    elif raster.nodata is not None:
        band = np.where(band == raster.nodata, 0, band)
    labels = as_label_map(band, path, key)  # (H, W) int64
    if shape is not None and labels.shape != tuple(shape):
        raise DataError(f"{where(path, key)}: label map of shape {labels.shape}, expected {tuple(shape)} (the "
                        f"scene's rasters). Give the label map of this scene, at the same size as its images.")
    return labels, None, Raster(path=path, array=labels[:, :, None], crs=raster.crs,
                                transform=raster.transform, nodata=raster.nodata)
