"""Scene cards: a YAML file describing a user's own HSI + LiDAR scene, parsed and validated.

Reading the card's rasters into a `Scene` is mmlgnet.data.scenes.card_load (`load_card`)."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mmlgnet.data.io.download import DataError, sha256sum
from mmlgnet.errors import is_int

__all__ = ["CARD_KEYS", "CardErrors", "RasterRef", "SceneCard", "is_card", "parse_card"]

REQUIRED = ("lidar",)
CARD_KEYS = ("name", "hsi", "lidar", "labels", "train", "test", "class_names", "nodata", "palette",
             "class_descriptions", "wavelengths_nm", "citation", "sha256")
RASTER_KEYS = ("path", "key", "bands")


class CardErrors:
    """Error helper bound to one card file: every message names the card, the key and the fix."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str, problem: str, fix: str) -> DataError:
        return DataError(f"Scene card {self.path}, key {key!r}: {problem}. {fix}")


def is_card(value: str) -> bool:
    """A `--data.scene` value naming a scene card: ends in .yaml/.yml, or is an existing file."""
    return value.lower().endswith((".yaml", ".yml")) or Path(value).expanduser().is_file()


@dataclass(frozen=True)
class RasterRef:
    """One file entry of a card: its path (resolved against the card's folder), .mat key, 1-based bands."""

    path: Path
    key: str | None = None
    bands: tuple[int, ...] | None = None


@dataclass(frozen=True)
class SceneCard:
    """A parsed (not yet loaded) card; every path is absolute and every value type-checked."""

    card: Path
    name: str
    lidar: tuple[RasterRef, ...]
    hsi: RasterRef | None = None
    labels: RasterRef | None = None
    train: RasterRef | None = None
    test: RasterRef | None = None
    class_names: tuple[str, ...] | None = None  # `class_names:` as a list: label k is class_names[k-1]
    display_names: dict[str, str] | None = None  # `class_names:` as a mapping: ROI name -> display name
    nodata: float | None = None
    palette: tuple[tuple[int, int, int], ...] = ()
    class_descriptions: dict[str, tuple[str, ...]] | None = None
    wavelengths_nm: tuple[float, ...] | None = None
    citation: str | None = None
    sha256: dict[str, str] | None = None


def _raster(c: CardErrors, key: str, value: Any) -> RasterRef:
    entry = value if isinstance(value, dict) else {"path": value}
    unknown = [k for k in entry if k not in RASTER_KEYS]
    if unknown:
        raise c.error(key, f"unknown field(s) {unknown} in a file entry", f"A file entry takes {list(RASTER_KEYS)}.")
    if not isinstance(entry.get("path"), str) or not entry["path"]:
        raise c.error(key, f"expected a file path or a mapping {{path: ..., key: ...}}, got {value!r}",
                      "Write e.g. `hsi: hsi.tif` or `hsi: {path: hsi.mat, key: HSI}`.")
    path = (c.path.parent / Path(entry["path"]).expanduser()).resolve()
    if not path.is_file():
        raise c.error(key, f"file {path} does not exist",
                      "Paths are relative to the card's folder; fix the path or put the file there.")
    bands = entry.get("bands")
    if bands is not None and (not isinstance(bands, list) or not bands
                              or not all(is_int(b) and b >= 1 for b in bands)):
        raise c.error(key, f"bands {bands!r}: expected a list of 1-based band numbers", "Write e.g. `bands: [1, 2, 3]`.")
    k = entry.get("key")
    return RasterRef(path, None if k is None else str(k), None if bands is None else tuple(bands))


def _refuse_repeated_keys(c: CardErrors, node: yaml.Node | None, path: tuple[str, ...] = ()) -> None:
    """Refuse a key given twice in one mapping of the card (YAML would silently keep the last one): e.g. a ROI
    name mapped twice in `class_names`, or two `hsi:` lines."""
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_repeated_keys(c, item, path)
    if not isinstance(node, yaml.MappingNode):
        return
    seen: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else None
        if key is not None and key != "<<":
            line = key_node.start_mark.line + 1
            if key in seen:
                where = f"{key!r} is given" if path else "given"
                raise c.error(path[0] if path else key, f"{where} twice (lines {seen[key]} and {line})",
                              "Give each key once: YAML would silently keep only the last.")
            seen[key] = line
        _refuse_repeated_keys(c, value_node, (*path, key or "?"))


def _display_names(c: CardErrors, names: dict[Any, Any], out: dict[str, Any]) -> dict[str, str]:
    """`class_names:` as a mapping ROI name -> display name, checked: strings, one display name per ROI, and a
    label file that is ENVI ROI text (whose ROI names the keys must be: card_checks.class_names checks them)."""
    fix = "Write e.g. `class_names: {grass_healthy: Healthy grass, tree: Trees}` (ROI name: display name)."
    if not names:
        raise c.error("class_names", "an empty mapping", fix)
    bad = {k: v for k, v in names.items() if not (isinstance(k, str) and k and isinstance(v, str) and v)}
    if bad:
        raise c.error("class_names", f"expected a mapping ROI name -> display name, both non-empty text, got {bad!r}",
                      f"{fix} Quote a name YAML would read as a number or boolean (e.g. '1': Water).")
    by_display: dict[str, list[str]] = {}
    for roi, shown in names.items():
        by_display.setdefault(shown, []).append(roi)
    shared = {shown: rois for shown, rois in by_display.items() if len(rois) > 1}
    if shared:
        which = "; ".join(f"ROI names {rois} all map to {shown!r}" for shown, rois in shared.items())
        raise c.error("class_names", which, "Give each ROI its own display name (one class per ROI), or merge "
                      "the ROIs into one in ENVI.")
    if not any(ref.path.suffix.lower() == ".txt" for k in ("labels", "train", "test") if (ref := out.get(k))):
        raise c.error("class_names", "a mapping ROI name -> display name, but no label file (labels, train, test) "
                      "is an ENVI ROI text file (.txt) whose ROI names it could map",
                      "Give class_names as a list in label order: `class_names: [Trees, Grass, Road]`.")
    return dict(names)


def parse_card(path: str | Path) -> SceneCard:
    """Read and type-check a card (no raster is read here); DataError naming the card and key otherwise."""
    path = Path(path).expanduser().resolve()
    c = CardErrors(path)
    if not path.is_file():
        raise DataError(f"Scene card {path} does not exist (option --data.scene): give the path of a YAML card "
                        f"or a catalogue scene name (trento, muufl, houston2013, synthetic).")
    try:
        text = path.read_text()
        _refuse_repeated_keys(c, yaml.compose(text, Loader=yaml.SafeLoader))
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise DataError(f"Scene card {path} is not valid YAML ({e}). Fix the syntax.") from None
    if not isinstance(raw, dict):
        raise DataError(f"Scene card {path}: expected a YAML mapping (name:, hsi:, lidar:, labels:, ...), "
                        f"got {type(raw).__name__}. See the README for an example card.")
    for key in raw:
        if key not in CARD_KEYS:
            near = difflib.get_close_matches(str(key), CARD_KEYS, n=1)
            raise c.error(str(key), "unknown key", f"Did you mean {near[0]!r}?" if near else
                          f"Known keys: {', '.join(CARD_KEYS)}.")
    for key in REQUIRED:
        if key not in raw:
            raise c.error(key, "missing", "Give one LiDAR/DSM raster or a list of them, e.g. `lidar: [dsm.tif]`.")
    if "labels" not in raw and not ("train" in raw and "test" in raw):
        raise c.error("labels", "no ground truth", "Give `labels:` (full ground truth) or both `train:` and `test:`.")
    lidar = raw["lidar"] if isinstance(raw["lidar"], list) else [raw["lidar"]]
    if not lidar:
        raise c.error("lidar", "empty list", "Give at least one LiDAR/DSM raster.")
    out: dict[str, Any] = {
        "card": path, "name": str(raw.get("name") or path.stem),
        "lidar": tuple(_raster(c, "lidar", v) for v in lidar),
        **{k: _raster(c, k, raw[k]) for k in ("hsi", "labels", "train", "test") if raw.get(k) is not None},
    }
    names = raw.get("class_names")
    if isinstance(names, dict):
        out["display_names"] = _display_names(c, names, out)
    elif names is not None:
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise c.error("class_names", f"expected a non-empty list of names, got {names!r}",
                          "Write e.g. `class_names: [Trees, Grass, Road]` (label k is class_names[k-1]), or, with "
                          "ENVI ROI label files, a mapping ROI name -> display name.")
        if len(set(names)) != len(names):
            raise c.error("class_names", "duplicate names", "Give each class a distinct name.")
        out["class_names"] = tuple(names)
    nodata = raw.get("nodata")
    if nodata is not None:
        if isinstance(nodata, bool) or not isinstance(nodata, (int, float)) or not math.isfinite(nodata):
            raise c.error("nodata", f"expected a finite number, got {nodata!r}", "Write e.g. `nodata: -9999`.")
        out["nodata"] = float(nodata)
    palette = raw.get("palette")
    if palette is not None:
        ok = isinstance(palette, list) and all(  # bool is an int subclass: `true` is not a colour value
            isinstance(p, list) and len(p) == 3
            and all(is_int(v) and 0 <= v <= 255 for v in p) for p in palette)
        if not ok:
            raise c.error("palette", f"expected a list of [R, G, B] triples of whole numbers 0..255, got {palette!r}",
                          "Write e.g. `palette: [[0, 128, 0], [124, 252, 0]]`, one triple per class.")
        out["palette"] = tuple(tuple(p) for p in palette)
    desc = raw.get("class_descriptions")
    if desc is not None:
        if not isinstance(desc, dict) or not all(
                isinstance(v, list) and all(isinstance(s, str) for s in v) for v in desc.values()):
            raise c.error("class_descriptions", "expected a mapping class name -> list of sentences",
                          "Write e.g. `class_descriptions: {Trees: [tall woody plants seen from above]}`.")
        out["class_descriptions"] = {str(k): tuple(v) for k, v in desc.items()}
    wl = raw.get("wavelengths_nm")
    if wl is not None:
        if not isinstance(wl, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in wl):
            raise c.error("wavelengths_nm", f"expected a list of numbers, got {wl!r}", "One centre wavelength per HSI band.")
        out["wavelengths_nm"] = tuple(float(v) for v in wl)
    if raw.get("citation") is not None:
        out["citation"] = str(raw["citation"])
    sha = raw.get("sha256")
    if sha is not None:
        if not isinstance(sha, dict) or not all(isinstance(v, str) for v in sha.values()):
            raise c.error("sha256", "expected a mapping file -> hex digest", "Write e.g. `sha256: {hsi.tif: 3b1f...}`.")
        out["sha256"] = {str(k): v.lower() for k, v in sha.items()}
    return SceneCard(**out)


def verify_sha256(card: SceneCard) -> None:
    """Check every `sha256:` entry of the card against its file (paths relative to the card's folder)."""
    c = CardErrors(card.card)
    for name, digest in (card.sha256 or {}).items():
        f = (card.card.parent / name).resolve()
        if not f.is_file():
            raise c.error("sha256", f"file {f} does not exist", "List the files by their path relative to the card.")
        got = sha256sum(f)
        if got != digest:
            raise c.error("sha256", f"{f} has sha256 {got}, the card expects {digest}",
                          "The file changed or is another version: replace it, or update the digest in the card.")
