"""The values a datamodule derives from its scene and options: what the CLI links into the model (class list,
band counts), the nodata value in force and the split. A mixin of HSILidarDataModule (mmlgnet.data.datamodule),
kept apart so that the Lightning shell stays small."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmlgnet.data.sampling.split_report import split_summary
from mmlgnet.data.sampling.splits import Split, make_split
from mmlgnet.data.sampling.unseen import resolve_unseen
from mmlgnet.data.scenes.catalog_load import SPECS
from mmlgnet.data.scenes.nodata_source import NodataSource, option_source
from mmlgnet.data.scenes.scene import Scene

__all__ = ["SceneValues"]


class SceneValues:
    """Scene-derived values; the class using it provides `scene` and the options below."""

    scene_name: str
    nodata: float | None
    unseen_classes: Sequence[str | int]
    split_protocol: str
    split_seed: int
    val_fraction: float
    allow_empty_train_classes: bool
    _split: Split | None

    @property
    def scene(self) -> Scene:
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        return self.scene.num_classes

    @property
    def class_names(self) -> list[str]:
        return list(self.scene.class_names)

    @property
    def class_descriptions(self) -> dict[str, list[str]]:
        """The scene card's class descriptions (class -> sentences; {} when none), for the text prompts."""
        return {k: list(v) for k, v in self.scene.class_descriptions.items()}

    @property
    def unseen_class_names(self) -> list[str]:
        """--data.unseen_classes as class names, checked against the scene's classes (SplitError)."""
        return [self.class_names[i] for i in resolve_unseen(self.unseen_classes, self.class_names)]

    @property
    def hsi_channels(self) -> int:
        if self.scene.hsi is not None:
            return int(self.scene.hsi.shape[2])
        spec = SPECS.get(self.scene_name)  # cube absent (LiDAR-only run): the spec's band count (0 for a card)
        return spec.hsi_bands if spec is not None else 0

    @property
    def fill_value(self) -> float | None:
        """The nodata value in force: --data.nodata, else the scene's own (card or raster metadata)."""
        return self.nodata if self.nodata is not None else self.scene.nodata

    @property
    def nodata_source(self) -> NodataSource | None:
        """Where the nodata value in force was declared, as the user wrote it (NaN, not its stand-in; NaN-tagged files too)."""
        return option_source(self.nodata, self.scene.nodata_source) if self.nodata is not None else self.scene.nodata_source

    @property
    def lidar_channels_out(self) -> int:
        return int(self.scene.lidar.shape[2])

    @property
    def split(self) -> Split:
        if self._split is None:
            s = self.scene
            self._split = make_split(
                s.labels, s.class_names, self.split_protocol, self.split_seed, s.train_map, s.test_map,
                self.val_fraction, self.allow_empty_train_classes, train_source=s.source("train"),
                unseen=resolve_unseen(self.unseen_classes, s.class_names),
            )
        return self._split

    def split_summary(self) -> dict[str, Any]:
        """Protocol facts written next to every result (mmlgnet.data.sampling.split_report.split_summary)."""
        return split_summary(self)

