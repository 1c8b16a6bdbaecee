"""A seeded synthetic HSI + LiDAR scene that needs both modalities, and a writer for the real file layouts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from mmlgnet.data.io.matfiles import write_gatorsense, write_mat
from mmlgnet.data.scenes.scene import Scene
from mmlgnet.errors import ConfigError

# Classes come in pairs that share a spectrum (material) but not a height: only LiDAR separates the two
# of a pair. The first of each pair lies on the ground (height 0), so those are separable only by HSI.
# Names are real land-cover words so that CLIP prompts built from them make sense.
_CLASSES: tuple[tuple[str, float], ...] = (  # (name, mean height in m)
    ("grass", 0.0), ("trees", 7.0),
    ("asphalt road", 0.0), ("building", 9.0),
    ("bare soil", 0.0), ("clay roof", 6.0),
    ("water", 0.0), ("bridge", 5.0),
    ("sand", 0.0), ("sports hall", 8.0),
    ("crops", 0.0), ("hedge", 2.5),
    ("gravel", 0.0), ("concrete roof", 10.0),
    ("meadow", 0.0), ("shrubs", 2.0),
)
MAX_SYNTHETIC_CLASSES = len(_CLASSES)
_PALETTE = ((124, 252, 0), (0, 100, 0), (105, 105, 105), (178, 34, 34), (160, 82, 45), (205, 92, 92),
            (30, 144, 255), (176, 196, 222), (238, 214, 175), (255, 140, 0), (154, 205, 50), (85, 107, 47),
            (190, 190, 190), (220, 220, 220), (152, 251, 152), (46, 139, 87))
Layout = Literal["trento_original", "split", "muufl_original", "muufl_split", "houston_split"]


def _smooth_curves(rng: np.random.Generator, n: int, bands: int, terms: int = 6) -> np.ndarray:
    """(n, bands) smooth random curves: a few low-frequency cosines, like reflectance spectra."""
    x = np.linspace(0.0, np.pi, bands)
    basis = np.stack([np.cos(k * x) for k in range(terms)])  # (terms, bands)
    coef = rng.normal(size=(n, terms)) / (1.0 + np.arange(terms))  # decaying: smooth
    return coef @ basis


def _regions(rng: np.random.Generator, height: int, width: int, num_classes: int) -> tuple[np.ndarray, ...]:
    """Warped-Voronoi regions: returns (class map (H, W), region id map (H, W), class of each region)."""
    target = max(2 * num_classes, height * width // 250)
    rows = max(1, round(np.sqrt(target * height / width)))
    cols = max(1, int(np.ceil(target / rows)))
    n_regions = rows * cols
    # Jittered grid of seeds: regions of similar size (uniform random seeds make some cells tiny).
    cy, cx = np.meshgrid((np.arange(rows) + 0.5) * height / rows, (np.arange(cols) + 0.5) * width / cols,
                         indexing="ij")  # (rows, cols) cell centres
    jitter = rng.uniform(-0.35, 0.35, size=(n_regions, 2)) * (height / rows, width / cols)
    seeds = np.stack([cy.ravel(), cx.ravel()], 1) + jitter  # (R, 2)
    region_class = rng.permutation(np.resize(np.arange(num_classes), n_regions))  # balanced, all present
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    scale = np.sqrt(height * width / n_regions)  # typical region diameter in pixels
    warp = [ndimage.gaussian_filter(rng.normal(size=(height, width)), 0.4 * scale, mode="wrap") for _ in range(2)]
    warp = [w / (w.std() + 1e-9) * 0.2 * scale for w in warp]  # organic borders, not straight lines
    pts = np.stack([(yy + warp[0]).ravel(), (xx + warp[1]).ravel()], axis=1)  # (H*W, 2)
    region = cKDTree(seeds).query(pts)[1].reshape(height, width)  # nearest seed of each pixel
    return region_class[region], region, region_class


def make_synthetic_scene(
    height: int = 64,
    width: int = 96,
    num_classes: int = 6,
    hsi_bands: int = 32,
    lidar_bands: int = 1,
    seed: int = 0,
    noise: float = 0.04,
    pair_similarity: float = 0.97,
    height_sd: float = 1.0,
    lidar_noise: float = 1.8,
    material_contrast: float = 0.12,
    unlabelled_fraction: float = 0.3,
    region_spectral_sd: float = 0.0,
    texture: float = 0.0,
    texture_scale: float = 4.0,
    height_scale: float = 1.0,
    label_noise: float = 0.0,
) -> Scene:
    """Generate a scene in which HSI separates materials and LiDAR separates heights, so both are needed.

    Classes come in pairs with nearly the same spectrum (`pair_similarity`) but different heights, and
    the first class of each pair lies on the ground: HSI alone confuses the pairs, LiDAR alone the ground classes.
    Spectra vary within a class (per-pixel brightness and a low-rank perturbation), region borders mix
    (blurred abundances), each region has its own height (`height_sd`) and Gaussian `noise` is added.
    A fraction of regions and all borders are left unlabelled, as in real ground truth.

    Difficulty knobs (all off by default: the default scene is unchanged; they draw from their own random
    stream, so turning one on changes nothing else). Pixel noise is averaged out by a patch model, these are not:
    - `region_spectral_sd`: each region's spectra are scaled by its own smooth random curve (sd of the factor):
      a class looks different from field to field, so a few training fields do not cover it.
    - `texture` / `texture_scale`: spatially correlated spectral variation (blobs of about `texture_scale`
      pixels, amplitude `texture` in reflectance units) inside regions.
    - `height_scale`: LiDAR informativeness; class heights are multiplied by it (0: LiDAR carries no class).
    - `label_noise`: fraction of labelled pixels given another (random) class, in training and test alike.
    """
    if not 2 <= num_classes <= len(_CLASSES):
        raise ValueError(f"num_classes must be in 2..{len(_CLASSES)}, got {num_classes}")
    _check_knobs(region_spectral_sd, texture, texture_scale, height_scale, label_noise)
    rng = np.random.default_rng(seed)
    knob_rng = np.random.default_rng([seed, 1])  # the difficulty knobs' own stream
    classes, region, region_class = _regions(rng, height, width, num_classes)  # (H, W)
    # Materials: one smooth spectrum per pair, the second of a pair a near copy of the first.
    n_mat = (num_classes + 1) // 2
    materials = _smooth_curves(rng, n_mat, hsi_bands)  # (M, C)
    materials = 0.35 + material_contrast * materials / np.abs(materials).max(1, keepdims=True)
    delta = 0.12 * _smooth_curves(rng, num_classes, hsi_bands)  # (K, C)
    pair = np.arange(num_classes) // 2
    spectra = materials[pair] * (1.0 + (1.0 - pair_similarity) * delta)  # (K, C)
    abundance = np.stack([(classes == k).astype(np.float64) for k in range(num_classes)], -1)  # (H, W, K)
    abundance = ndimage.gaussian_filter(abundance, (1.0, 1.0, 0))  # mixed pixels along region borders
    n_pix = height * width
    hsi = abundance.reshape(n_pix, num_classes) @ spectra  # (H*W, C)
    brightness = 1.0 + 0.1 * rng.normal(size=(n_pix, 1))  # illumination / slope
    low_rank = rng.normal(size=(n_pix, 3)) @ (0.03 * _smooth_curves(rng, 3, hsi_bands))
    hsi = hsi * brightness + low_rank + noise * 0.35 * rng.normal(size=hsi.shape)
    if region_spectral_sd > 0:  # (R, C) factor curves, unit sd per region
        curves = _smooth_curves(knob_rng, len(region_class), hsi_bands)
        curves /= curves.std(1, keepdims=True) + 1e-9
        hsi *= 1.0 + region_spectral_sd * curves[region.ravel()]
    if texture > 0:  # 3 blob fields (H, W) mixing 3 smooth curves
        fields = np.stack([ndimage.gaussian_filter(knob_rng.normal(size=(height, width)), texture_scale, mode="wrap")
                           for _ in range(3)], -1)
        fields /= fields.std((0, 1), keepdims=True) + 1e-9
        shapes = _smooth_curves(knob_rng, 3, hsi_bands)
        shapes /= np.abs(shapes).max(1, keepdims=True) + 1e-9
        hsi += texture * fields.reshape(n_pix, 3) @ shapes / np.sqrt(3)
    # LiDAR: per-class mean height, per-region offset, blur at borders, sensor noise.
    class_height = height_scale * np.array([_CLASSES[k][1] for k in range(num_classes)])  # (K,)
    mean_height = class_height[region_class]  # (R,)
    region_height = mean_height + height_sd * rng.normal(size=region_class.shape)
    on_ground = mean_height == 0
    region_height[on_ground] = 0.3 * np.abs(region_height[on_ground])  # ground is never below ground
    dsm = ndimage.gaussian_filter(region_height[region], 0.7) + lidar_noise * rng.normal(size=(height, width))
    rasters = [dsm]
    for _ in range(1, lidar_bands):  # further returns: the same surface with their own noise
        rasters.append(dsm + lidar_noise * rng.normal(size=(height, width)))
    lidar = np.stack(rasters, -1)  # (H, W, L)
    # Ground truth: borders (3×3 mixed neighbourhood) and a fraction of regions are unlabelled.
    border = ndimage.maximum_filter(classes, 3) != ndimage.minimum_filter(classes, 3)
    surveyed = rng.uniform(size=region_class.shape) >= unlabelled_fraction
    for k in range(num_classes):  # keep every class: survey its largest region
        own = np.flatnonzero(region_class == k)
        surveyed[own[np.argmax(np.bincount(region.ravel(), minlength=len(region_class))[own])]] = True
    labels = np.where(surveyed[region] & ~border, classes + 1, 0).astype(np.int64)  # (H, W)
    if label_noise > 0:  # another class for a random fraction of the labelled pixels
        flip = (labels > 0) & (knob_rng.uniform(size=labels.shape) < label_noise)
        shift = knob_rng.integers(1, num_classes, size=labels.shape)  # never the true class
        labels[flip] = (labels[flip] - 1 + shift[flip]) % num_classes + 1
    return Scene(
        name="synthetic",
        hsi=hsi.reshape(height, width, hsi_bands).astype(np.float32),
        lidar=lidar.astype(np.float32),
        labels=labels,
        class_names=tuple(name for name, _ in _CLASSES[:num_classes]),
        wavelengths_nm=np.linspace(400.0, 1000.0, hsi_bands),
        palette=_PALETTE[:num_classes],
    )


#: make_synthetic_scene's generator settings that `--data.synthetic_options` may set (size, classes and seed
#: have their own options; lidar_bands follows --data.lidar_channels).
SYNTHETIC_OPTIONS: tuple[str, ...] = (
    "hsi_bands", "noise", "pair_similarity", "height_sd", "lidar_noise", "material_contrast", "unlabelled_fraction",
    "region_spectral_sd", "texture", "texture_scale", "height_scale", "label_noise",
)


def synthetic_options(options: dict[str, float] | None) -> dict[str, Any]:
    """Checked keyword arguments of make_synthetic_scene from `--data.synthetic_options` (ConfigError otherwise)."""
    out: dict[str, Any] = {}
    for key, value in (options or {}).items():
        if key not in SYNTHETIC_OPTIONS:
            raise ConfigError(f"--data.synthetic_options: unknown key {key!r}; expected some of "
                              f"{', '.join(SYNTHETIC_OPTIONS)} (size, classes and seed have their own options).")
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise ConfigError(f"--data.synthetic_options: {key} must be a finite number, got {value!r}.")
        out[key] = int(value) if key == "hsi_bands" else float(value)
    if out.get("hsi_bands", 32) < 1:
        raise ConfigError(f"--data.synthetic_options: hsi_bands must be >= 1, got {out['hsi_bands']}.")
    try:
        _check_knobs(*(float(out.get(k, d)) for k, d in (("region_spectral_sd", 0.0), ("texture", 0.0),
                                                           ("texture_scale", 4.0), ("height_scale", 1.0),
                                                           ("label_noise", 0.0))))
    except ValueError as e:
        raise ConfigError(f"--data.synthetic_options: {e}.") from None
    return out


def _check_knobs(region_spectral_sd: float, texture: float, texture_scale: float, height_scale: float,
                 label_noise: float) -> None:
    for name, value in (("region_spectral_sd", region_spectral_sd), ("texture", texture),
                        ("height_scale", height_scale)):
        if not value >= 0:
            raise ValueError(f"synthetic scene option {name} must be >= 0, got {value}")
    if not texture_scale > 0:
        raise ValueError(f"synthetic scene option texture_scale must be > 0 (blob size in pixels), got {texture_scale}")
    if not 0 <= label_noise < 1:
        raise ValueError(f"synthetic scene option label_noise must be in [0, 1), got {label_noise}")


def default_split(labels: np.ndarray, per_class: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train_map, test_map): `per_class` random pixels of each class train, the rest test."""
    rng = np.random.default_rng(seed)
    train = np.zeros_like(labels)
    for k in np.unique(labels[labels > 0]):
        idx = np.flatnonzero(labels.ravel() == k)
        n = min(per_class, max(1, len(idx) // 2))
        train.ravel()[rng.choice(idx, n, replace=False)] = k
    test = np.where(train > 0, 0, labels)
    return train, test


def write_scene_files(
    scene: Scene,
    directory: Path,
    layout: Layout,
    mat_version: Literal["5", "7.3"] = "5",
    train_map: np.ndarray | None = None,
    test_map: np.ndarray | None = None,
) -> list[Path]:
    """Write `scene` as the files of a real layout, with the real names and keys; returns the paths.

    The split layouts get a train/test pair: the given maps, the scene's own, or `default_split`. The
    GatorSense struct file is MATLAB v5 only (as the real one).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if scene.hsi is None:
        raise ValueError("write_scene_files needs a scene with an HSI cube")
    labels8 = scene.labels.astype(np.uint8)
    lidar = scene.lidar[:, :, 0] if scene.lidar_bands == 1 else scene.lidar  # real single rasters are 2-D
    if train_map is None or test_map is None:
        if scene.train_map is not None and scene.test_map is not None:
            train_map, test_map = scene.train_map, scene.test_map
        elif layout in ("split", "houston_split"):
            train_map, test_map = default_split(scene.labels)

    def put(name: str, arrays: dict[str, np.ndarray]) -> Path:
        return write_mat(directory / name, arrays, mat_version)

    if layout == "muufl_original":
        if mat_version != "5":
            raise ValueError("the GatorSense MUUFL struct file exists only as MATLAB v5: use mat_version='5'")
        return [write_gatorsense(directory / "muufl_gulfport_campus_1_hsi_220_label.mat", scene.hsi,
                                 scene.lidar, scene.labels, scene.class_names, scene.wavelengths_nm)]
    if layout == "trento_original":
        out = [put("Italy_hsi.mat", {"data": scene.hsi}), put("Italy_lidar.mat", {"data": lidar}),
               put("allgrd.mat", {"mask_test": labels8})]
    elif layout == "muufl_split":
        out = [put("HSI.mat", {"HSI": scene.hsi}), put("LiDAR.mat", {"LiDAR": lidar}),
               put("gt.mat", {"gt": labels8})]
    elif layout in ("split", "houston_split"):
        out = [put("HSI.mat", {"HSI": scene.hsi}), put("LiDAR.mat", {"LiDAR": lidar})]
        if layout == "houston_split":
            out.append(put("gt.mat", {"gt": labels8}))
    else:
        raise ValueError(f"unknown layout {layout!r}: choose one of {get_args(Layout)}")
    if train_map is not None and test_map is not None:
        out += [put("TRLabel.mat", {"TRLabel": train_map.astype(np.uint8)}),
                put("TSLabel.mat", {"TSLabel": test_map.astype(np.uint8)})]
    return out
