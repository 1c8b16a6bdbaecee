"""The catalogue of real scenes: sources, sha256 pins, .mat keys, shapes, class names, palettes, citations."""

from __future__ import annotations

from dataclasses import dataclass, field


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
