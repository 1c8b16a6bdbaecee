"""Parse ENVI ROI ASCII exports ("ENVI Output of ROIs"), as the 2013 GRSS contest shipped its samples, to label maps."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmlgnet.data.io.download import DataError, MissingDataError

_FIX = ("Export the ROIs again from ENVI (File > Save ROIs as ASCII / Output ROIs to ASCII, with the ID, X, Y "
        "columns) or fetch a good copy of the file from its source.")
_DIMENSION = re.compile(r"^;\s*File Dimension:\s*(\d+)\s*x\s*(\d+)\s*$", re.IGNORECASE)
_COUNT = re.compile(r"^;\s*Number of ROIs:\s*(\d+)\s*$", re.IGNORECASE)
_NAME = re.compile(r"^;\s*ROI name:\s*(.*?)\s*$", re.IGNORECASE)
_RGB = re.compile(r"^;\s*ROI rgb value:\s*\{\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\}\s*$", re.IGNORECASE)
_WHOLE = re.compile(r"^[+-]?\d+$")
_NPTS = re.compile(r"^;\s*ROI npts:\s*(\d+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Roi:
    """One ROI of the header: its name, display colour and declared pixel count (and where it was declared)."""

    name: str
    rgb: tuple[int, int, int] | None
    npts: int
    line: int  # 1-based line of its "ROI name" in the file


@dataclass(frozen=True, eq=False)
class EnviRois:
    """A parsed ROI file: the label map (H, W) int64 (0 = no ROI, k = k-th ROI), ROI names and colours."""

    labels: np.ndarray  # (H, W) int64
    names: tuple[str, ...]
    palette: tuple[tuple[int, int, int] | None, ...]  # ROI rgb values, in ROI order (None when not given)
    width: int
    height: int


def _error(path: Path, line: int | None, what: str) -> DataError:
    at = f"{path}" if line is None else f"{path}, line {line}"
    return DataError(f"{at}: {what} {_FIX}")


def _header(path: Path, lines: list[str]) -> tuple[int, int, list[Roi], int]:
    """(width, height, ROIs, index of the first line after the header) from the leading ';' lines."""
    if not lines or not _matches(lines[0], r"^;\s*ENVI Output of ROIs"):
        first = lines[0][:60] if lines else "an empty file"
        raise _error(path, 1 if lines else None, f"expected an ENVI ROI ASCII export starting with "
                     f"'; ENVI Output of ROIs', found {first!r}.")
    count = dims = None
    rois: list[Roi] = []
    name: tuple[str, int] | None = None
    rgb: tuple[int, int, int] | None = None
    i = 0
    while i < len(lines) and lines[i].startswith(";"):
        text, no = lines[i], i + 1
        if m := _COUNT.match(text):
            count = int(m.group(1))
        elif m := _DIMENSION.match(text):
            dims = (int(m.group(1)), int(m.group(2)))
        elif m := _NAME.match(text):
            name, rgb = (m.group(1), no), None
        elif m := _RGB.match(text):
            rgb = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
        elif m := _NPTS.match(text):
            if name is None:
                raise _error(path, no, "'ROI npts' before any 'ROI name'.")
            rois.append(Roi(name=name[0], rgb=rgb, npts=int(m.group(1)), line=name[1]))
            name = None
        elif re.match(r"^;\s*ROI (name|rgb value|npts)\b", text, re.IGNORECASE):  # other lines: comments
            raise _error(path, no, f"unreadable ROI header line {text!r}; expected 'ROI name: ...', "
                         f"'ROI rgb value: {{r, g, b}}' or 'ROI npts: N'.")
        i += 1
    if count is None or dims is None:
        missing = " and ".join(s for s, v in (("'; Number of ROIs: N'", count), ("'; File Dimension: W x H'", dims))
                               if v is None)
        raise _error(path, None, f"the header has no {missing} line.")
    if name is not None:
        raise _error(path, name[1], f"ROI {name[0]!r} has no 'ROI npts' line.")
    if len(rois) != count:
        raise _error(path, None, f"the header says 'Number of ROIs: {count}' but describes {len(rois)} ROI(s).")
    return dims[0], dims[1], rois, i


def _matches(text: str, pattern: str) -> bool:
    return re.match(pattern, text, re.IGNORECASE) is not None


def _blocks(path: Path, lines: list[str], start: int) -> list[tuple[int, np.ndarray]]:
    """The data blocks after the header: (first line number, (n, 2) int64 X, Y columns), split at blank lines."""
    blocks: list[tuple[int, np.ndarray]] = []
    rows: list[tuple[int, int]] = []
    first = 0
    for i in range(start, len(lines) + 1):
        text = lines[i].strip() if i < len(lines) else ""
        if not text or text.startswith(";"):  # blank line, column header (e.g. ';  ID  X  Y') or end of file
            if rows:
                blocks.append((first, np.asarray(rows, dtype=np.int64).reshape(-1, 2)))
                rows = []
            continue
        fields = text.split()
        if len(fields) < 3 or not all(_WHOLE.match(f) for f in fields[:3]):
            raise _error(path, i + 1, f"expected a data row 'ID X Y ...' of whole numbers, found {text[:60]!r}.")
        x, y = int(fields[1]), int(fields[2])
        if not rows:
            first = i + 1
        rows.append((x, y))
    return blocks


def parse_envi_roi(path: str | Path, shape: tuple[int, int] | None = None) -> EnviRois:
    """Parse an ENVI ROI ASCII export into a label map, with the ROI names and rgb colours.

    Checks: the header (ROI count, 'File Dimension: W x H', name/rgb/npts per ROI), one block of rows per ROI
    with a point (npts > 0) and exactly npts rows, X (column) and Y (row) 1-based inside W x H, the dimension
    against `shape` (H, W) when given, and that no pixel belongs to two ROIs. Every problem is a DataError
    naming the file, the line and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"{path}: no such file; expected an ENVI ROI ASCII export. Check the path.",
                               missing=[str(path)])
    try:
        lines = path.read_text(encoding="latin-1").splitlines()
    except OSError as err:
        raise DataError(f"{path}: cannot read the file ({err}); check its permissions.") from err
    width, height, rois, start = _header(path, lines)
    if shape is not None and (height, width) != tuple(shape):
        raise _error(path, None, f"'File Dimension: {width} x {height}' (W x H) does not match the scene's "
                     f"rasters, (H, W) = {tuple(shape)}. Use the ROI file exported from this scene's image.")
    blocks = _blocks(path, lines, start)
    filled = [(k, r) for k, r in enumerate(rois, start=1) if r.npts > 0]  # ENVI writes no rows for an empty ROI
    if len(blocks) != len(filled):
        raise _error(path, None, f"{len(filled)} ROI(s) with points in the header but {len(blocks)} block(s) of "
                     f"rows (blocks are separated by blank lines); the file is truncated or hand-edited.")
    labels = np.zeros((height, width), dtype=np.int64)  # (H, W)
    for (k, roi), (line, xy) in zip(filled, blocks, strict=True):
        if len(xy) != roi.npts:
            raise _error(path, line, f"ROI {roi.name!r} (declared line {roi.line}) says npts {roi.npts} but its "
                         f"block has {len(xy)} row(s).")
        x, y = xy[:, 0], xy[:, 1]
        outside = (x < 1) | (x > width) | (y < 1) | (y > height)
        if outside.any():
            j = int(np.argmax(outside))
            raise _error(path, line + j, f"ROI {roi.name!r}: pixel X={x[j]}, Y={y[j]} lies outside the file "
                         f"dimension {width} x {height} (coordinates are 1-based).")
        taken = labels[y - 1, x - 1]  # (n,) ROI already holding each pixel
        flat = (y - 1) * width + (x - 1)
        values, counts = np.unique(flat, return_counts=True)
        if (taken != 0).any() or (counts > 1).any():
            if (taken != 0).any():
                j = int(np.argmax(taken != 0))
            else:  # listed twice in this ROI: point at the second row
                j = int(np.flatnonzero(flat == values[np.argmax(counts > 1)])[1])
            other = rois[int(taken[j]) - 1].name if taken[j] else roi.name
            raise _error(path, line + j, f"pixel X={x[j]}, Y={y[j]} belongs to ROI {other!r} and again to ROI "
                         f"{roi.name!r}; a pixel can have only one class. Remove it from one of them.")
        labels[y - 1, x - 1] = k
    return EnviRois(labels=labels, names=tuple(r.name for r in rois), palette=tuple(r.rgb for r in rois),
                    width=width, height=height)


def read_envi_roi(path: str | Path, shape: tuple[int, int] | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """The label map (H, W) int64 (ROI k -> class k, 0 = none) and the ROI names of an ENVI ROI ASCII export."""
    rois = parse_envi_roi(path, shape)
    return rois.labels, rois.names


def read_roi_colours(path: str | Path) -> tuple[tuple[int, int, int] | None, ...]:
    """The ROIs' display colours ('ROI rgb value: {r, g, b}'), in ROI order (None where a ROI gives none).

    Reads the header only (the leading ';' lines), with its checks: a scene card's palette when the card gives
    none (mmlgnet.data.scenes.card_load.card_palette), without parsing the points a second time.
    """
    path = Path(path)
    header: list[str] = []
    try:
        with path.open(encoding="latin-1") as f:
            for line in f:
                if not line.startswith(";"):
                    break
                header.append(line.rstrip("\r\n"))
    except OSError as err:
        raise DataError(f"{path}: cannot read the file ({err}); check its permissions.") from err
    _, _, rois, _ = _header(path, header)
    return tuple(r.rgb for r in rois)
