"""Scene specs (source, checksum, keys, shapes, classes) of Trento, MUUFL and Houston 2013, and their loader."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from mmlgnet.download import DataError, MissingDataError, describe_missing, ensure_files
from mmlgnet.matfiles import read_gatorsense, read_mat


@dataclass(frozen=True)
class FileSpec:
    """One file of a scene layout: its name in the scene directory, pinned hash, source and .mat key."""

    name: str  # file name inside the scene directory, e.g. "Italy_hsi.mat"
    sha256: str | None  # None = not pinned (the reason is given where the spec is written)
    url: str | None  # direct URL; None if the file only exists inside an archive
    key: str | None  # .mat variable name (None for the MUUFL struct file, read as a whole)
    archive_url: str | None = None
    archive_member: str | None = None
    archive_sha256: str | None = None  # None for GitHub archive zips: they are regenerated, bytes change
    role: str = ""  # "hsi", "lidar", "labels", "train", "test" or "struct" (tells the loader what it holds)


@dataclass(frozen=True, eq=False)  # eq=False: the fields are arrays, element-wise == makes no sense here
class Scene:
    """A loaded co-registered HSI + LiDAR scene with its ground truth (0 = unlabelled, 1..K)."""

    name: str
    hsi: np.ndarray | None  # (H, W, C_hsi) float32; None only with require_hsi=False and no cube on disk
    lidar: np.ndarray  # (H, W, C_lidar) float32
    labels: np.ndarray  # (H, W) int64, 0 = unlabelled, 1..K
    class_names: tuple[str, ...]  # K names in label order
    train_map: np.ndarray | None = None  # (H, W) int64, published training labels (0 elsewhere)
    test_map: np.ndarray | None = None  # (H, W) int64, published test labels
    wavelengths_nm: np.ndarray | None = None  # (C_hsi,)
    palette: tuple[tuple[int, int, int], ...] = ()  # K RGB colours for maps

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def height(self) -> int:
        return int(self.labels.shape[0])

    @property
    def width(self) -> int:
        return int(self.labels.shape[1])

    @property
    def hsi_bands(self) -> int | None:
        return None if self.hsi is None else int(self.hsi.shape[2])

    @property
    def lidar_bands(self) -> int:
        return int(self.lidar.shape[2])


@dataclass(frozen=True)
class SceneSpec:
    """What a real scene must look like and where its files come from; layouts are tried in order."""

    name: str
    height: int
    width: int
    hsi_bands: int
    lidar_bands: int  # in the default (first) layout; the Trento original file has 2
    class_names: tuple[str, ...]
    class_counts: tuple[int, ...]  # labelled pixels per class in the full ground truth
    layouts: dict[str, tuple[FileSpec, ...]]  # first = default layout for downloads
    citation: str
    license: str
    palette: tuple[tuple[int, int, int], ...]
    standard_split: tuple[tuple[int, ...], tuple[int, ...]] | None  # per-class train/test counts
    wavelength_range_nm: tuple[float, float] | None = None  # bands are taken as evenly spaced in it
    lidar_bands_by_layout: dict[str, int] = field(default_factory=dict)


_TRENTO_RAW = "https://github.com/tyust-dayu/Trento/raw/b4afc449ce5d6936ddc04fe267d86f9f35536afd"
# zlyrs1/MACL is only known by branch (main), not by commit: the sha256 pins guard against changes.
_MACL_RAW = "https://github.com/zlyrs1/MACL/raw/main/datasets"
# HSI.mat files of MACL are stored in Git LFS: the /raw/ URL returns a pointer, the media URL the bytes.
_MACL_MEDIA = "https://media.githubusercontent.com/media/zlyrs1/MACL/main/datasets"
_MUUFL_ZIP = "https://github.com/GatorSense/MUUFLGulfport/archive/refs/tags/v0.1.zip"
_HOUSTON_ZIP = "https://github.com/songyz2019/rs-fusion-datasets-dist/releases/download/v1.0.0/houston2013-mmr.zip"
_HOUSTON_ZIP_SHA = "7a2d719d12f49f1984e6f28821254cd6b217ba85599780a093ed3388ae1fd762"  # a release asset: stable


def _houston(name: str, sha: str, key: str, role: str) -> FileSpec:
    return FileSpec(name, sha, None, key, _HOUSTON_ZIP, f"Houston2013/{name}", _HOUSTON_ZIP_SHA, role)


SPECS: dict[str, SceneSpec] = {
    "trento": SceneSpec(
        name="trento", height=166, width=600, hsi_bands=63, lidar_bands=1,
        class_names=("Apple trees", "Buildings", "Ground", "Woods", "Vineyard", "Roads"),
        class_counts=(4034, 2903, 479, 9123, 10501, 3174),
        layouts={
            "split": (  # default: it carries the published 819 / 29,395 train/test maps
                FileSpec("HSI.mat", "44a84b4fe8bab9b2f5ec11af32602436ccc97653b7ae8c3283334da7d221c053",
                         f"{_MACL_MEDIA}/Trento/HSI.mat", "HSI", role="hsi"),
                FileSpec("LiDAR.mat", "d99347532e7b18982c9537fd4de43574dd64f9b35ccab251459e7b483ddd43df",
                         f"{_MACL_RAW}/Trento/LiDAR.mat", "LiDAR", role="lidar"),
                FileSpec("TRLabel.mat", "593976a1bef4edf06ec543926811509f997454557aa9313ed6165b3012c26e07",
                         f"{_MACL_RAW}/Trento/TRLabel.mat", "TRLabel", role="train"),
                FileSpec("TSLabel.mat", "629ae33464907098cacf58549996711bf7079f036946f9208fde8a67842ab499",
                         f"{_MACL_RAW}/Trento/TSLabel.mat", "TSLabel", role="test"),
            ),
            "original": (
                FileSpec("Italy_hsi.mat", "7b965fd405314b5c91451042e547a1923be6f5a38c6da83969032cff79729280",
                         f"{_TRENTO_RAW}/Italy_hsi.mat", "data", role="hsi"),
                FileSpec("Italy_lidar.mat", "a04dc90368d6a7b4f9d3936024ba9fef4105456c090daa14fff31b8b79e94ab1",
                         f"{_TRENTO_RAW}/Italy_lidar.mat", "data", role="lidar"),
                FileSpec("allgrd.mat", "7e3fb2a2ea22c2661dfc768db3cb93c9643b324e7e64fadedfa57f5edbf1818f",
                         f"{_TRENTO_RAW}/allgrd.mat", "mask_test", role="labels"),
            ),
        },
        citation="Trento HSI (AISA Eagle) + LiDAR (Optech ALTM 3100EA) scene, data provided by "
        "L. Bruzzone, University of Trento.",
        license="no licence file accompanies the public copies; research use, cite the data provider",
        palette=((34, 139, 34), (178, 34, 34), (210, 180, 140), (0, 100, 0), (154, 205, 50), (128, 128, 128)),
        standard_split=((129, 125, 105, 154, 184, 122), (3905, 2778, 374, 8969, 10317, 3052)),
        wavelength_range_nm=(402.0, 989.0),
        lidar_bands_by_layout={"split": 1, "original": 2},
    ),
    "muufl": SceneSpec(
        name="muufl", height=325, width=220, hsi_bands=64, lidar_bands=2,
        # GatorSense errata: label 7 is building shadow, 8 is buildings (Materials_Type has them swapped).
        class_names=("Trees", "Mostly grass", "Mixed ground surface", "Dirt and sand", "Road", "Water",
                     "Building shadow", "Buildings", "Sidewalk", "Yellow curb", "Cloth panels"),
        class_counts=(23246, 4270, 6882, 1826, 6687, 466, 2233, 6240, 1385, 183, 269),
        layouts={
            "original": (  # MIT-licensed release; the zip's own sha256 (2219e625...) is not stable
                FileSpec("muufl_gulfport_campus_1_hsi_220_label.mat",
                         "69420a72866dff4a858ae503e6e2981af46f406a4ad8f4dd642efa43feb59edc", None, None,
                         _MUUFL_ZIP, "MUUFLGulfportSceneLabels/muufl_gulfport_campus_1_hsi_220_label.mat",
                         None, role="struct"),
            ),
            "split": (
                FileSpec("HSI.mat", "66132d97e8e090b63ec28a1a7a92c85c18e4226a76ba703eb43b0d44b1ff5938",
                         f"{_MACL_MEDIA}/MUUFL/HSI.mat", "HSI", role="hsi"),
                FileSpec("LiDAR.mat", "6ff05737867f68ba381807564f431eafa8e603434971988767953122103ec09b",
                         f"{_MACL_RAW}/MUUFL/LiDAR.mat", "LiDAR", role="lidar"),
                # Not pinned: no copy of MACL's gt.mat has been hashed yet.
                FileSpec("gt.mat", None, f"{_MACL_RAW}/MUUFL/gt.mat", "gt", role="labels"),
            ),
            "split_muufl_gt": (  # the same split layout with the ground truth saved as muufl_gt.mat
                FileSpec("HSI.mat", "66132d97e8e090b63ec28a1a7a92c85c18e4226a76ba703eb43b0d44b1ff5938",
                         f"{_MACL_MEDIA}/MUUFL/HSI.mat", "HSI", role="hsi"),
                FileSpec("LiDAR.mat", "6ff05737867f68ba381807564f431eafa8e603434971988767953122103ec09b",
                         f"{_MACL_RAW}/MUUFL/LiDAR.mat", "LiDAR", role="lidar"),
                # Not pinned: a locally converted copy of the GatorSense labels, published nowhere.
                FileSpec("muufl_gt.mat", None, None, "gt", role="labels"),
            ),
        },
        citation="P. Gader, A. Zare, R. Close, J. Aitken, G. Tuell, 'MUUFL Gulfport Hyperspectral and LiDAR "
        "Airborne Data Set', Univ. Florida REP-2013-570, 2013; X. Du, A. Zare, 'Technical Report: Scene "
        "Label Ground Truth Map for MUUFL Gulfport Data Set', Univ. Florida, 2017.",
        license="MIT (GatorSense/MUUFLGulfport)",
        palette=((0, 128, 0), (124, 252, 0), (210, 180, 140), (244, 164, 96), (105, 105, 105), (30, 144, 255),
                 (72, 61, 139), (220, 20, 60), (255, 182, 193), (255, 215, 0), (255, 0, 255)),
        standard_split=None,  # there is no official MUUFL split
        wavelength_range_nm=(375.0, 1050.0),
    ),
    "houston2013": SceneSpec(
        name="houston2013", height=349, width=1905, hsi_bands=144, lidar_bands=1,
        class_names=("Healthy grass", "Stressed grass", "Synthetic grass", "Trees", "Soil", "Water",
                     "Residential", "Commercial", "Road", "Highway", "Railway", "Parking Lot 1",
                     "Parking Lot 2", "Tennis Court", "Running Track"),
        class_counts=(1251, 1254, 697, 1244, 1242, 325, 1268, 1244, 1252, 1227, 1235, 1233, 469, 428, 660),
        layouts={
            # Split-layout mirror of the DFC 2013 data (gt.mat is also in the zip and optional here).
            # The official GeoTIFF zip (2013_DFTC.zip) is not supported yet: future work.
            "split": (
                _houston("HSI.mat", "6a0edba3c224df411623ed5774fc34e91929ab341709859b2f56cc38dbb3c6fd", "HSI", "hsi"),
                _houston("LiDAR.mat", "7aa956e7c371fd29a495f0cb9bb8f572aaa4065fcfeda2b3e854a5cef74b35ad", "LiDAR",
                         "lidar"),
                _houston("TRLabel.mat", "96ce863eaf4dc548c3140a480dee33c812d46194ae5ed345fed6e71a3d72b527",
                         "TRLabel", "train"),
                _houston("TSLabel.mat", "46bd849d556c80ed67b33f23dd288eafa7ac9f97a847390be373b702b0bf5a45",
                         "TSLabel", "test"),
            ),
        },
        citation="2013 IEEE GRSS Data Fusion Contest; C. Debes et al., 'Hyperspectral and LiDAR Data Fusion: "
        "Outcome of the 2013 GRSS Data Fusion Contest', IEEE JSTARS 7(6):2405-2418, 2014.",
        license="GRSS DFC terms: research use; acknowledge the Hyperspectral Image Analysis group and NCALM "
        "at the University of Houston",
        palette=((0, 205, 0), (127, 255, 0), (46, 139, 87), (0, 100, 0), (160, 82, 45), (0, 191, 255),
                 (255, 255, 255), (216, 191, 216), (255, 0, 0), (139, 0, 0), (112, 128, 144), (255, 255, 0),
                 (238, 154, 0), (85, 26, 139), (255, 127, 80)),
        standard_split=((198, 190, 192, 188, 186, 182, 196, 191, 193, 191, 181, 192, 184, 181, 187),
                        (1053, 1064, 505, 1056, 1056, 143, 1072, 1053, 1059, 1036, 1054, 1041, 285, 247, 473)),
        wavelength_range_nm=(380.0, 1050.0),
    ),
}
SCENE_NAMES = ("trento", "muufl", "houston2013", "synthetic")


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
        + (f"\nAlternatively provide a complete other layout ({others})." if others else "")
    )


def _lidar_3d(lidar: np.ndarray) -> np.ndarray:
    lidar = np.asarray(lidar, dtype=np.float32)
    return lidar[:, :, None] if lidar.ndim == 2 else lidar  # (H, W, C_lidar)


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
    for role in ("labels", "train", "test"):
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


def _read_layout(files: tuple[FileSpec, ...], paths: dict[str, Path]) -> tuple[dict[str, np.ndarray], dict]:
    """Read every file of a layout by role; returns ({role: array}, {role: path})."""
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
            arrays[f.role] = read_mat(path, str(f.key))
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
        from mmlgnet.synthetic import make_synthetic_scene

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
    train = arrays["train"].astype(np.int64) if "train" in arrays else None
    test = arrays["test"].astype(np.int64) if "test" in arrays else None
    if "labels" in arrays:
        labels = arrays["labels"].astype(np.int64)
    elif train is not None and test is not None:
        if train.shape != test.shape:
            raise DataError(f"{sources['train']} {train.shape} and {sources['test']} {test.shape} differ in "
                            f"size: use the TRLabel.mat/TSLabel.mat pair from one source.")
        labels = np.where(train > 0, train, test)  # == TR + TS once checked to be disjoint
        sources["labels"] = sources["train"]
    else:
        raise DataError(f"Scene {name!r}, layout {layout!r}: no ground truth among {list(paths)}; "
                        f"add the label files listed in the spec ({[f.name for f in files]}).")
    hsi = np.asarray(arrays["hsi"], dtype=np.float32) if "hsi" in arrays else None
    wavelengths = arrays.get("wavelengths")
    if wavelengths is None and hsi is not None and spec.wavelength_range_nm is not None:
        wavelengths = np.linspace(*spec.wavelength_range_nm, hsi.shape[2])  # approximate: evenly spaced
    scene = Scene(name=name, hsi=hsi, lidar=_lidar_3d(arrays["lidar"]), labels=labels,
                  class_names=spec.class_names, train_map=train, test_map=test,
                  wavelengths_nm=wavelengths, palette=spec.palette)
    lidar_bands = spec.lidar_bands_by_layout.get(layout, spec.lidar_bands)
    check_scene(scene, {k: Path(v) for k, v in sources.items()}, spec if verify else None, lidar_bands)
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
