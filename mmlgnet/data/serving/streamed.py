"""The streamed path: predict by tiles read by window (mmlgnet.data.sampling.streaming.StreamPlan), predict only."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from mmlgnet.data.sampling.normalization import NormStats
from mmlgnet.data.sampling.streaming import StreamPlan
from mmlgnet.data.serving.interface import Batch
from mmlgnet.data.transfer import TrainingData

__all__ = ["StreamedServing"]


class StreamedServing:
    """A scene card mapped tile by tile with the checkpoint's statistics (no pass over the whole scene)."""

    def __init__(self, plan: StreamPlan, dm: Any) -> None:
        self.plan = plan
        plan.setup(dm)  # the options and the checkpoint's statistics, checked
        self.norm_stats: dict[str, NormStats] = dict(plan.stats)

    def check_stage(self, stage: str | None) -> None:
        """Only predict streams (the datamodule loads the scene for the other stages)."""

    def use_training(self, training: TrainingData) -> None:
        """The plan took the checkpoint's statistics at setup (Lightning restores the same state again)."""

    def loader(self, index: np.ndarray, target: np.ndarray, shuffle: bool, batch_size: int, seed: int,
               world: int, rank: int) -> DataLoader:
        raise AssertionError("fit, validate and test load the scene: only predict streams")

    def predict_loader(self, batch_size: int, seed: int, world: int, rank: int) -> DataLoader:
        return self.plan.dataloader(world, rank)  # this rank's tiles, in pixel chunks of eval_batch_size

    def batch(self, batch: Any) -> Batch:
        assert isinstance(batch, torch.Tensor)  # [tile, start, stop]
        return self.plan.batch(batch)

    def nodata_pixels(self) -> dict[str, np.ndarray | None]:
        return {}  # the streamed writer flags nodata tile by tile
