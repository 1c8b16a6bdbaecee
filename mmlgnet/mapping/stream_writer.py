"""Interrupt-safe outputs of a streaming prediction: tile-by-tile writes, a progress record, resume, final rename.

Layout in the output folder while a prediction runs:
- `prediction.npy.partial` (H, W) int16 and `confidence.npy.partial` (H, W) float32: .npy files opened as
  memory maps; each tile's classes / confidences go straight into their window (0 until written).
- `stream_progress.rank<R>.json`: per rank, the fingerprint of the run and the ids of the tiles whose values are
  on disk (flushed BEFORE the record names them; the record is replaced atomically).
Resume: a rerun with the same fingerprint (weights digest, class list and text embeddings, precision, scene
files, options, grid: mmlgnet.mapping.stream_key and StreamPlan.fingerprint) skips the tiles recorded; any other
fingerprint (or partials without records) restarts cleanly. mmlgnet.mapping.output_lock keeps a second predict out of
the folder meanwhile. Only when every tile of the grid is
recorded does `finalize` write `prediction.tif` / `confidence.tif` by windows (atomic renames) and rename the
partials to `prediction.npy` / `confidence.npy`; a killed run therefore never leaves a file that looks complete.

Why memory maps and not the GeoTIFF itself as the partial file: GDAL writes a GeoTIFF's directory when the file
is closed, so a killed writer leaves an unreadable file. Under DDP all ranks write their own (disjoint) tiles
into the same maps: MAP_SHARED pages are shared by the processes, so disjoint writes never clobber each other,
and each rank records its tiles in its own file (no two processes ever write one file's same bytes).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.format import open_memmap

from mmlgnet.atomic import write_json
from mmlgnet.mapping.stream_key import differences, plain

__all__ = ["RowReader", "StreamOutputs", "block_rows"]

_BLOCK_PIXELS = 2**22  # pixels per block of rows when reading the finished maps back (4 M: ~16 MiB float32)


def block_rows(width: int) -> int:
    """Rows per block of about _BLOCK_PIXELS pixels: memory bounded however wide the scene is."""
    return max(1, _BLOCK_PIXELS // max(1, width))


class RowReader:
    """Rows of a (H, W) .npy file by slicing `reader[r0:r1]`, each read through a fresh memory map that is closed
    right after: the file's pages never pile up in the process's RSS (a plain memmap keeps them mapped)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        m = np.load(path, mmap_mode="r")
        self.shape, self.dtype = m.shape, m.dtype
        del m

    def __getitem__(self, rows: slice) -> np.ndarray:
        m = np.load(self.path, mmap_mode="r")
        rows_copy = np.array(m[rows])
        del m  # the last reference: numpy unmaps the file
        return rows_copy


class StreamOutputs:
    """The partial maps and progress records of one streaming prediction in `out` (see the module docstring)."""

    def __init__(self, out: Path, height: int, width: int, tiles: int, fingerprint: dict[str, Any],
                 rank: int = 0) -> None:
        self.out, self.shape, self.tiles, self.rank = Path(out), (height, width), tiles, rank
        self.fingerprint = plain(fingerprint)  # as the records read it back (strict JSON)
        self.pred_path, self.conf_path = self.out / "prediction.npy.partial", self.out / "confidence.npy.partial"
        self._pred: np.memmap | None = None
        self._conf: np.memmap | None = None
        self._done: list[int] = []

    # ---- start: on rank 0, then every rank after a barrier ----
    def prepare(self) -> tuple[set[int], list[str]]:
        """(rank 0, before the other ranks open) keep resumable partials, else start them afresh.

        Returns the tiles done and, when records of another run were set aside, what differed (for the log).
        """
        self.out.mkdir(parents=True, exist_ok=True)
        done = self.recorded()
        if done and self._partials_ok():
            return done, []
        changed = self.changed()
        for p in self.records():
            p.unlink()
        for path, dtype in ((self.pred_path, np.int16), (self.conf_path, np.float32)):
            open_memmap(path, mode="w+", dtype=dtype, shape=self.shape).flush()  # zeros, sparse on disk
        return set(), changed

    def changed(self) -> list[str]:
        """The fingerprint entries in which the records on disk differ from this run's (unreadable: `record`)."""
        found: list[str] = []
        for p in self.records():
            try:
                rec = json.loads(p.read_text())
            except (OSError, ValueError):
                return ["record (unreadable)"]
            old = rec.get("fingerprint")
            found += differences(old, self.fingerprint) if isinstance(old, dict) else ["record"]
        return sorted(set(found))

    def records(self) -> list[Path]:
        return sorted(self.out.glob("stream_progress.rank*.json"))

    def recorded(self) -> set[int]:
        """Tiles recorded by any rank under this fingerprint (records of another run count for nothing)."""
        done: set[int] = set()
        for p in self.records():
            try:
                rec = json.loads(p.read_text())
            except (OSError, ValueError):
                return set()  # unreadable record: restart rather than trust it
            if rec.get("fingerprint") != self.fingerprint:
                return set()
            done.update(int(t) for t in rec.get("done", []))
        return done

    def _partials_ok(self) -> bool:
        try:
            return all(np.load(p, mmap_mode="r").shape == self.shape for p in (self.pred_path, self.conf_path))
        except (OSError, ValueError):
            return False

    def open(self, done: Iterable[int]) -> None:
        """(every rank) check the partials can be mapped for writing; `done`: the tiles already recorded."""
        self._map()
        mine = self.out / f"stream_progress.rank{self.rank}.json"
        prior = json.loads(mine.read_text()).get("done", []) if mine.is_file() else []
        self._done = sorted(set(int(t) for t in prior) & set(done))

    def _map(self) -> tuple[np.memmap, np.memmap]:
        if self._pred is None or self._conf is None:
            self._pred = open_memmap(self.pred_path, mode="r+")
            self._conf = open_memmap(self.conf_path, mode="r+")
        return self._pred, self._conf

    # ---- tiles ----
    def write(self, index: np.ndarray, pred: np.ndarray, score: np.ndarray) -> None:
        """Flat pixel indices (B,) -> classes (B,) int16 (0 = nodata) and confidences (B,) float32."""
        pmap, cmap = self._map()
        pmap.reshape(-1)[index] = pred
        cmap.reshape(-1)[index] = score

    def tile_done(self, tile: int) -> None:
        """Flush the maps, then record `tile` (atomically): a record never names a tile whose values are not on disk.

        The maps are unmapped after each tile: their pages would otherwise stay in this process's RSS, which
        would grow with the scene (6 bytes per pixel).
        """
        self.close()
        self._done.append(int(tile))
        write_json(self.out / f"stream_progress.rank{self.rank}.json",
                   {"fingerprint": self.fingerprint, "done": sorted(self._done)})

    def close(self) -> None:
        for m in (self._pred, self._conf):
            if m is not None:
                m.flush()
        self._pred = self._conf = None

    # ---- end: rank 0 ----
    def missing(self) -> list[int]:
        done = self.recorded()
        return [t for t in range(self.tiles) if t not in done]

    def finalize(self, crs: str | None, transform: Sequence[float] | None, class_names: Sequence[str],
                 palette: Sequence[Sequence[int]]) -> dict[str, Path]:
        """Every tile recorded: GeoTIFFs by windows (georeferenced scenes), then the partials renamed, records removed."""
        missing = self.missing()
        if missing:
            raise RuntimeError(f"{self.out}: {len(missing)} of {self.tiles} tiles not written (first {missing[:5]}); "
                               f"rerun the same predict command to resume.")
        self.close()
        files: dict[str, Path] = {}
        pred, conf = RowReader(self.pred_path), RowReader(self.conf_path)  # (H, W) int16 / float32, by rows
        if crs is not None and transform is not None:
            from mmlgnet.mapping import georef

            files["prediction.tif"] = georef.write_class_tif(
                self.out / "prediction.tif", pred, crs, transform, class_names, palette,
                "predicted class (0 = nodata/unclassified)", rows_per_write=block_rows(self.shape[1]))
            files["confidence.tif"] = georef.write_float_tif(
                self.out / "confidence.tif", conf, crs, transform, "softmax maximum", rows_per_write=block_rows(self.shape[1]))
        del pred, conf
        for partial, name in ((self.pred_path, "prediction.npy"), (self.conf_path, "confidence.npy")):
            partial.replace(self.out / name)
            files[name] = self.out / name
        for p in self.records():
            p.unlink()
        return files
