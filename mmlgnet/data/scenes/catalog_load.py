"""Loading a real scene (Trento, MUUFL, Houston 2013) from either file layout into a checked `Scene`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from mmlgnet.data.io.download import DataError, MissingDataError, describe_missing, ensure_files
from mmlgnet.data.io.matfiles import read_gatorsense, read_mat
from mmlgnet.data.io.rasters import as_cube, as_label_map
from mmlgnet.data.scenes.catalog import SCENE_NAMES, SPECS, FileSpec, SceneSpec
from mmlgnet.data.scenes.scene import Scene

__all__ = ["SCENE_NAMES", "SPECS", "FileSpec", "Scene", "SceneSpec", "check_scene", "load_scene"]


def _scene_dir(root: str | Path, name: str) -> Path:
    """`root/<name>` when that folder exists (a data root with one folder per scene), else `root` itself."""
    root = Path(root).expanduser()
    return root / name if (root / name).is_dir() else root


def _needed(files: tuple[FileSpec, ...], require_hsi: bool) -> tuple[FileSpec, ...]:
    return tuple(f for f in files if require_hsi or f.role != "hsi")


def _choose_layout(spec: SceneSpec, directory: Path, require_hsi: bool, download: bool) -> str:
    """Prefer a layout with every file present, then (require_hsi=False) one missing only its HSI cube."""
    def complete(files: tuple[FileSpec, ...]) -> bool:
        return all((directory / f.name).is_file() for f in files)

    for name, files in spec.layouts.items():
        if complete(files):
            return name
    for name, files in spec.layouts.items():
        if complete(_needed(files, require_hsi)):
            return name
    default = next(iter(spec.layouts))
    if download:
        return default
    # Report the layout the user is closest to having (ties: the default one).
    best = max(spec.layouts, key=lambda n: sum((directory / f.name).is_file() for f in spec.layouts[n]))
    missing = [f for f in _needed(spec.layouts[best], require_hsi) if not (directory / f.name).is_file()]
    others = "; ".join(
        f"layout {n!r}: {', '.join(f.name for f in _needed(files, require_hsi))}"
        for n, files in spec.layouts.items() if n != best
    )
    raise MissingDataError(
        f"Scene {spec.name!r} (layout {best!r}): {len(missing)} file(s) missing in {directory}:\n"
        f"{describe_missing(directory, missing)}\n"
        f"Put them in {directory}, or pass --data.download true to fetch them."
        + (f"\nAlternatively provide a complete other layout ({others})." if others else ""),
        missing=[f.name for f in missing],
    )


def _fail(what: str, where: str, expected: object, got: object, fix: str) -> DataError:
    return DataError(f"{where}: {what}: expected {expected}, got {got}. {fix}")


def check_scene(scene: Scene, sources: dict[str, Path], spec: SceneSpec | None, lidar_bands: int | None) -> None:
    """Raise DataError on inconsistent sizes, bad label values, NaN/inf or overlapping train/test maps.

    `sources` maps "hsi", "lidar", "labels", "train", "test" to the file each array came from; with a
    `spec`, the size and band counts are also checked against the published ones.
    """
    fix_redownload = "Re-download the file (delete it and pass --data.download true) or check its source."
    arrays = {"hsi": scene.hsi, "lidar": scene.lidar, "labels": scene.labels,
              "train": scene.train_map, "test": scene.test_map}
    sizes = {k: tuple(a.shape[:2]) for k, a in arrays.items() if a is not None}
    if len(set(sizes.values())) > 1:
        listing = ", ".join(f"{sources.get(k, k)}: {s}" for k, s in sizes.items())
        raise DataError(f"Scene {scene.name!r}: the files do not share one (H, W) grid ({listing}). "
                        f"All files of a scene must come from the same source/version; replace the odd one.")
    if spec is not None:
        if sizes["labels"] != (spec.height, spec.width):
            raise _fail("size (H, W)", str(sources.get("labels")), (spec.height, spec.width), sizes["labels"],
                        fix_redownload + " (For small test fixtures pass verify=False.)")
        if scene.hsi is not None and scene.hsi_bands != spec.hsi_bands:
            raise _fail("HSI bands", str(sources.get("hsi")), spec.hsi_bands, scene.hsi_bands, fix_redownload)
        if lidar_bands is not None and scene.lidar_bands != lidar_bands:
            raise _fail("LiDAR rasters", str(sources.get("lidar")), lidar_bands, scene.lidar_bands,
                        fix_redownload)
    k = scene.num_classes
    # The split maps first: ground truth built from TRLabel + TSLabel must blame the map a bad value is in.
    for role in ("train", "test", "labels"):
        a = arrays[role]
        if a is not None and a.size and (a.min() < 0 or a.max() > k):
            raise _fail("label values", str(sources.get(role)), f"0..{k} ({k} classes, 0 = unlabelled)",
                        f"{int(a.min())}..{int(a.max())}", "The file belongs to another scene or is corrupt.")
    for role in ("hsi", "lidar"):
        a = arrays[role]
        if a is not None and not np.isfinite(a).all():
            bad = np.argwhere(~np.isfinite(a))
            raise _fail("finite values", str(sources.get(role)), "no NaN/inf",
                        f"{len(bad)} NaN/inf entries, first at (row, col, band) {tuple(int(i) for i in bad[0])}",
                        "Re-download the file, or fill the gaps (e.g. interpolate) before loading.")
    if scene.train_map is not None and scene.test_map is not None:
        overlap = int(((scene.train_map > 0) & (scene.test_map > 0)).sum())
        if overlap:
            raise _fail("disjoint train/test maps", f"{sources.get('train')} and {sources.get('test')}",
                        "0 pixels in both", f"{overlap} pixels in both",
                        "Use the TRLabel.mat/TSLabel.mat pair from one source.")
        for role, a in (("train", scene.train_map), ("test", scene.test_map)):
            m = a > 0
            if not np.array_equal(a[m], scene.labels[m]):
                raise _fail("labels agreeing with the ground truth", str(sources.get(role)),
                            "the same class as the ground truth where set", "different classes",
                            "Use split maps made from this ground truth file.")


def _read_layout(
    files: tuple[FileSpec, ...], paths: dict[str, Path]
) -> tuple[dict[str, np.ndarray], dict[str, Path]]:
    """Read and check every file of a layout by role; returns ({role: array}, {role: path}).

    Cubes come back (H, W, C) float32 and maps (H, W) int64; a file of the wrong shape or type is a
    DataError naming it (see mmlgnet.data.io.rasters).
    """
    arrays: dict[str, np.ndarray] = {}
    sources: dict[str, Path] = {}
    for f in files:
        if f.name not in paths:
            continue
        path = paths[f.name]
        if f.role == "struct":
            g = read_gatorsense(path)
            arrays.update(hsi=g.hsi, lidar=g.lidar, labels=g.labels)
            if g.wavelengths_nm is not None and g.wavelengths_nm.size == g.hsi.shape[2]:
                arrays["wavelengths"] = g.wavelengths_nm
            sources.update(hsi=path, lidar=path, labels=path)
        else:
            raw = read_mat(path, str(f.key))
            if f.role in ("hsi", "lidar"):
                arrays[f.role] = as_cube(raw, path, f.key, "hsi" if f.role == "hsi" else "lidar")
            else:  # "labels", "train", "test"
                arrays[f.role] = as_label_map(raw, path, f.key)
            sources[f.role] = path
    return arrays, sources


def load_scene(
    name: str,
    root: str | Path,
    download: bool = False,
    lidar_channels: int | None = None,
    require_hsi: bool = True,
    verify: bool = True,
) -> Scene:
    """Load a scene from `root` (or `root/<name>`), choosing the file layout by which files are there.

    `lidar_channels` keeps the first N LiDAR rasters; `require_hsi=False` returns hsi=None when the cube is
    absent (LiDAR-only runs). `verify=False` skips the sha256 checks *and* the size-vs-spec checks, so
    small fixture scenes written in a real layout load; internal consistency is always checked.
    """
    if name == "synthetic":
        from mmlgnet.data.scenes.synthetic import make_synthetic_scene

        scene = make_synthetic_scene()
        return _keep_lidar(scene, lidar_channels, Path("<synthetic>"))
    if name not in SPECS:
        raise DataError(f"Unknown scene {name!r}: choose one of {SCENE_NAMES} (option --data.scene).")
    spec = SPECS[name]
    directory = _scene_dir(root, name)
    layout = _choose_layout(spec, directory, require_hsi, download)
    files = spec.layouts[layout]
    # Without require_hsi an absent cube is skipped (and not downloaded); a present one is still used.
    wanted = tuple(f for f in files if require_hsi or f.role != "hsi" or (directory / f.name).is_file())
    paths = ensure_files(directory, wanted, download, verify)
    arrays, sources = _read_layout(wanted, paths)
    if "train" not in arrays and "split" in spec.layouts:  # e.g. Trento original + published TR/TS maps
        extra = tuple(f for f in spec.layouts["split"] if f.role in ("train", "test"))
        if all((directory / f.name).is_file() for f in extra):
            more, more_src = _read_layout(extra, ensure_files(directory, extra, False, verify))
            arrays.update(more)
            sources.update(more_src)
    train, test = arrays.get("train"), arrays.get("test")  # (H, W) int64 or None
    if "labels" in arrays:
        labels = arrays["labels"]
    elif train is not None and test is not None:
        if train.shape != test.shape:
            raise DataError(f"{sources['train']} {train.shape} and {sources['test']} {test.shape} differ in "
                            f"size: use the TRLabel.mat/TSLabel.mat pair from one source.")
        labels = np.where(train > 0, train, test)  # == TR + TS once checked to be disjoint
        sources["labels"] = sources["train"]
    else:
        raise DataError(f"Scene {name!r}, layout {layout!r}: no ground truth among {list(paths)}; "
                        f"add the label files listed in the spec ({[f.name for f in files]}).")
    hsi = arrays.get("hsi")  # (H, W, C) float32 or None
    wavelengths = arrays.get("wavelengths")
    if wavelengths is None and hsi is not None and spec.wavelength_range_nm is not None:
        wavelengths = np.linspace(*spec.wavelength_range_nm, hsi.shape[2])  # approximate: evenly spaced
    scene = Scene(name=name, hsi=hsi, lidar=arrays["lidar"], labels=labels,
                  class_names=spec.class_names, train_map=train, test_map=test,
                  wavelengths_nm=wavelengths, palette=spec.palette, sources=dict(sources))
    lidar_bands = spec.lidar_bands_by_layout.get(layout, spec.lidar_bands)
    check_scene(scene, sources, spec if verify else None, lidar_bands)
    return _keep_lidar(scene, lidar_channels, sources["lidar"])


def _keep_lidar(scene: Scene, lidar_channels: int | None, source: Path) -> Scene:
    """Keep the first `lidar_channels` LiDAR rasters (MUUFL has two returns; the paper uses one)."""
    if lidar_channels is None:
        return scene
    if not 1 <= lidar_channels <= scene.lidar_bands:
        raise DataError(
            f"lidar_channels={lidar_channels} but {source} has {scene.lidar_bands} LiDAR raster(s) for scene "
            f"{scene.name!r}: set --data.lidar_channels to a value in 1..{scene.lidar_bands} (or null for all)."
        )
    return replace(scene, lidar=np.ascontiguousarray(scene.lidar[:, :, :lidar_channels]))
