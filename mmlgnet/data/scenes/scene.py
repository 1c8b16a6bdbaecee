"""The `Scene` record: a loaded co-registered HSI + LiDAR scene (imported by scenes, cards and synthetic)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmlgnet.data.scenes.nodata_source import NodataSource

__all__ = ["Scene"]


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
    sources: dict[str, Path] = field(default_factory=dict)  # role ("hsi", "lidar", "train", ...) -> its file
    crs: str | None = None  # the rasters' CRS (WKT or "EPSG:n"); None = not georeferenced
    transform: tuple[float, ...] | None = None  # affine geotransform (a, b, c, d, e, f) of the pixel grid
    nodata: float | None = None  # fill value of the HSI/LiDAR files (card or raster metadata), if any
    nodata_source: NodataSource | None = None  # where `nodata` was declared, as the user wrote it (NaN kept)
    class_descriptions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # class -> sentences (text side)

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

    def source(self, role: str) -> str:
        """The file an array came from, for messages (the scene's name for generated scenes)."""
        return str(self.sources[role]) if role in self.sources else f"the {self.name} scene's {role} data"
