"""The windowed path: a scene card over the memory budget trained on its labelled pixels' patches, read by windows.

fit/validate/test only (mmlgnet.data.sampling.labelled: statistics in one windowed pass, then the windows holding
labelled neighbourhoods); predict maps every pixel and is served by tiles instead (streamed.StreamedServing).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from mmlgnet.data.sampling import labelled
from mmlgnet.data.sampling.normalization import NormStats
from mmlgnet.data.scenes.lazy_scene import LazyScene
from mmlgnet.data.scenes.scene import Scene
from mmlgnet.data.serving.interface import Batch, ServeOptions, index_batch, index_loader, moved_gather
from mmlgnet.data.transfer import TrainingData
from mmlgnet.errors import ConfigError

__all__ = ["WindowedServing"]


class WindowedServing:
    """The labelled pixels' (`index`: train, val and test, sorted flat) patches of a card read by windows."""

    def __init__(self, lazy: LazyScene, scene: Scene, options: ServeOptions, index: np.ndarray,
                 scene_in_memory: bool | str) -> None:
        self.lazy, self.scene, self.options, self.index = lazy, scene, options, index
        self.scene_in_memory = scene_in_memory
        self.norm_stats: dict[str, NormStats] = {}
        self.gatherers: dict[str, labelled.LabelledGatherer] = {}

    def prepare(self, training: TrainingData | None, check: bool = True) -> None:
        """Statistics (unless a checkpoint's are given) and the labelled patches, checked as in memory."""
        o = self.options
        self.gatherers, self.norm_stats = labelled.serve_labelled(
            self.lazy, self.scene, o.modalities, self.index, o.patch_size, o.nodata, o.normalization,
            training.stats if training is not None else None, check, o.source)

    def check_stage(self, stage: str | None) -> None:
        if stage == "predict":
            raise ConfigError(
                f"predict maps every pixel of {self.options.scene_name}, but the scene is read by windows for its "
                f"labelled pixels only (--data.scene_in_memory {str(self.scene_in_memory).lower()}): map it by "
                f"tiles with --data.stream always (or auto), or load it with --data.scene_in_memory true.")

    def use_training(self, training: TrainingData) -> None:
        o = self.options
        training.check(o.scene_name, o.normalization, list(self.scene.class_names),
                       {k: int(g.channels) for k, g in self.gatherers.items()})
        if not all(self.norm_stats[k].same_as(training.stats[k]) for k in self.gatherers):
            self.prepare(training, check=False)  # the patches are read again: they were cut with other statistics

    def loader(self, index: np.ndarray, target: np.ndarray, shuffle: bool, batch_size: int, seed: int,
               world: int, rank: int) -> DataLoader:
        if self.options.pipeline == "per_sample":
            raise ConfigError("--data.pipeline per_sample cuts patches from the scene in memory; this scene is read "
                              "by windows (labelled patches only): use --data.pipeline device or "
                              "--data.scene_in_memory true.")
        return index_loader(index, target, shuffle, batch_size, seed, world, rank)

    def predict_loader(self, batch_size: int, seed: int, world: int, rank: int) -> DataLoader:
        self.check_stage("predict")
        raise AssertionError("unreachable")

    def gather(self, index: torch.Tensor) -> Batch:
        return moved_gather(self.gatherers, index)

    def batch(self, batch: Any) -> Batch:
        return index_batch(batch, self.gather)

    def nodata_pixels(self) -> dict[str, np.ndarray | None]:
        return {}  # never needed: the windowed path does not predict
