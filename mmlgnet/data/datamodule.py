"""LightningDataModule: the thin Lightning shell over the scene, its split and the path that serves it.

The serving paths (in memory, labelled patches by window, tiles) live in mmlgnet.data.serving behind one
interface (`Serving`), chosen once at setup (mmlgnet.data.serving.choose); this module holds the options, the
data-decided values the CLI links into the model, the split, the checkpointed statistics and the hooks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from mmlgnet.data.data_options import check_data_options
from mmlgnet.data.sampling import labelled
from mmlgnet.data.sampling.normalization import NormStats
from mmlgnet.data.sampling.patches import Normalization, check_patch_size
from mmlgnet.data.sampling.split_report import report_split
from mmlgnet.data.sampling.splits import Split
from mmlgnet.data.sampling.streaming import StreamPlan, plan_stream
from mmlgnet.data.sampling.unseen import check_unseen_option
from mmlgnet.data.scene_values import SceneValues
from mmlgnet.data.scenes.catalog_load import Scene
from mmlgnet.data.scenes.lazy_scene import LazyScene
from mmlgnet.data.scenes.synthetic import synthetic_options as synthetic_options_of
from mmlgnet.data.serving.choose import choose_serving, open_scene
from mmlgnet.data.serving.in_memory import InMemoryServing
from mmlgnet.data.serving.interface import Batch, Serving
from mmlgnet.data.serving.streamed import StreamedServing
from mmlgnet.data.serving.windowed import WindowedServing
from mmlgnet.data.transfer import TrainingData, data_state
from mmlgnet.models.mmlgnet import Modality


class HSILidarDataModule(SceneValues, L.LightningDataModule):
    """Serves P×P HSI and LiDAR patches around the labelled pixels of one scene.

    Pipeline `device` (default): the normalised, reflect-padded scene lives on the training device and a
    batch is a tensor of flat pixel indices; `on_after_batch_transfer` cuts all its patches with one
    gather. Pipeline `per_sample`: the usual Dataset that slices one patch per item (reference/benchmark).

    Args:
        scene: a catalogue scene (`trento`, `muufl`, `houston2013`, or `synthetic`, generated on the fly for the
            offline demo and tests) or the path of a YAML scene card describing your own rasters (see README).
        root: directory holding the scene's files (default `data/<scene>`).
        download: fetch missing files from the pinned URLs and verify their sha256.
        verify: check sha256 of present files against the spec (turn off only for your own re-exports).
        split: `standard` (published TR/TS maps), `per_class:N` or `fraction:p`.
        split_seed: seed of the drawn protocols and of the validation carve-out.
        val_fraction: share of the training pixels held out for validation (0: none; never the test set).
            round(val_fraction * n) pixels per class: a value that holds out none at all is an error, one
            that misses some classes a warning; both name the smallest value that serves every class.
        allow_empty_train_classes: accept a split in which a class has no training pixel (by default an
            error: the published TRLabel map lacking a class is almost always the wrong file). Holding classes
            out of training on purpose is the open-vocabulary case: `unseen_classes`.
        unseen_classes: classes held out of training and validation (names or 1-based ids), e.g. `[Vineyard]`:
            their train/val pixels are dropped (test pixels unchanged), the model trains on the seen classes'
            prompts only and test/predict score all classes (seen/unseen accuracy: mmlgnet.training.open_vocab).
        patch_size: P, odd.
        batch_size: training pixels per step (per process under DDP).
        eval_batch_size: pixels per step for validation, test and full-scene prediction.
        lidar_channels: keep the first N LiDAR rasters (MUUFL has 2; the paper's notation has 1).
        normalization: per-band statistics over all scene pixels: z-score (`standard`), `minmax` or `none`.
            A band whose extreme value lies > 1e3 robust spreads (MAD) from its median is reported with a
            warning: its statistics are ruled by that value (usually a fill value: see `nodata`).
        nodata: a fill value (e.g. 1e30 or -9999) marking missing measurements in the HSI/LiDAR files.
            Default: the scene card's `nodata`, else the rasters' own nodata metadata.
            Entries equal to it (compared in float32) are left out of their band's statistics and replaced
            by the band's mean (0 after z-scoring) before patches are cut. A labelled pixel with nodata in a
            served modality is an error naming the file: it cannot be classified from missing data.
        modalities: which inputs to serve (linked from `model.modalities` by the CLI).
        pipeline: `device` (vectorised gather on the device) or `per_sample` (reference DataLoader path).
        num_workers: DataLoader workers of the `per_sample` path (the `device` path needs none).
        scene_in_memory: how fit/validate/test hold a scene card (mmlgnet.data.sampling.labelled): `true` loads the whole
            scene (normalised and padded: ~2x its float32 bytes), `false` reads the rasters by windows and keeps
            only the labelled pixels' P×P patches (statistics in one windowed pass; same patches bit for bit),
            `auto` (default) loads it when 2x its bytes fit `memory_budget_mb` (default a quarter of the RAM),
            else reads by windows. The path taken and why are logged. predict maps every pixel: a scene that does
            not fit is mapped by tiles (`stream`); `false` with `stream never` is refused for predict.
        stream: `predict` by tiles read by window (mmlgnet.data.sampling.streaming; scene cards only): `auto` when the
            scene would not fit `memory_budget_mb` in memory, `always`, or `never`. fit/test load the scene.
        memory_budget_mb: memory the prediction may use (default: a quarter of the RAM); sets the tile size.
        stream_tile: tile side in pixels (default: from memory_budget_mb).
        synthetic_*: size, class count and seed of the synthetic scene; `synthetic_options` sets the generator's
            other settings (difficulty knobs: mmlgnet.data.scenes.synthetic.SYNTHETIC_OPTIONS), e.g. in the quick mode.

    Applying a trained model to another scene: the checkpoint's statistics and class list (`state_dict`,
    mmlgnet.data.transfer) normalise this scene as the training scene was, after checks (CheckpointError).
    """

    def __init__(
        self,
        scene: str = "synthetic",
        root: str | None = None,
        download: bool = False,
        verify: bool = True,
        split: str = "standard",
        split_seed: int = 0,
        val_fraction: float = 0.0,
        allow_empty_train_classes: bool = False,
        unseen_classes: Sequence[str | int] | None = None,
        patch_size: int = 11,
        batch_size: int = 64,
        eval_batch_size: int = 1024,
        lidar_channels: int | None = None,
        normalization: Normalization = "standard",
        nodata: float | None = None,
        modalities: Sequence[Modality] = ("hsi", "lidar"),
        pipeline: Literal["device", "per_sample"] = "device",
        num_workers: int = 0,
        scene_in_memory: bool | Literal["auto"] = "auto",
        stream: Literal["auto", "always", "never"] = "auto",
        memory_budget_mb: float | None = None,
        stream_tile: int | None = None,
        synthetic_height: int = 64,
        synthetic_width: int = 96,
        synthetic_classes: int = 6,
        synthetic_seed: int = 0,
        synthetic_options: dict[str, float] | None = None,
    ) -> None:
        super().__init__()
        # Every option is checked here, before any file is read or any epoch is run.
        check_data_options(scene, split, val_fraction, patch_size, batch_size, eval_batch_size, num_workers,
                           lidar_channels, pipeline, normalization, nodata,
                           (synthetic_height, synthetic_width, synthetic_classes))
        self.scene_name, self.root = scene, Path(root) if root else Path("data") / scene
        self.download, self.verify = download, verify
        self.split_protocol, self.split_seed, self.val_fraction = split, split_seed, val_fraction
        self.allow_empty_train_classes = allow_empty_train_classes
        self.unseen_classes = check_unseen_option(unseen_classes)  # names/ids, resolved against the scene's classes
        self.patch_size, self.batch_size, self.eval_batch_size = patch_size, batch_size, eval_batch_size
        self.lidar_channels, self.normalization, self.nodata = lidar_channels, normalization, nodata
        self.modalities = tuple(modalities)
        self.pipeline, self.num_workers = pipeline, num_workers
        self.scene_in_memory = labelled.check_option(scene_in_memory, scene)
        self._windowed: LazyScene | None = None  # the card's rasters by window (labelled patches only)
        self.stream, self.memory_budget_mb, self.stream_tile = stream, memory_budget_mb, stream_tile
        self._stream: StreamPlan | None = None  # streaming tiled predict, when planned (first .scene)
        self._stream_planned = False
        self.synthetic = dict(
            height=synthetic_height, width=synthetic_width, num_classes=synthetic_classes, seed=synthetic_seed,
            **synthetic_options_of(synthetic_options),
        )
        self._scene: Scene | None = None
        self._split: Split | None = None
        self.serving: Serving | None = None  # the path chosen at setup (mmlgnet.data.serving)
        self._training: TrainingData | None = None  # from a checkpoint: normalise with the training scene's stats

    @property
    def scene(self) -> Scene:  # the values linked into the model by the CLI: mmlgnet.data.scene_values
        if self._scene is None and not self._stream_planned:  # a shape-only stub when predict streams
            self._stream_planned, self._stream = True, plan_stream(self)
        if self._scene is None and self._stream is not None:
            return self._stream.stub
        if self._scene is None:
            self._scene, self._windowed = open_scene(self)  # mmlgnet.data.serving.choose
        return self._scene

    # ---- Lightning hooks: the serving path is chosen once, here ----
    def setup(self, stage: str | None = None) -> None:
        self.scene  # noqa: B018 -- plans streaming on first use (mmlgnet.data.sampling.streaming)
        if self._stream is not None:
            if stage == "predict":
                if not isinstance(self.serving, StreamedServing):
                    self.serving = StreamedServing(self._stream, self)
                return
            self._stream = None  # fit/test/validate load the scene: streaming is a predict path
        s = self.scene
        check_patch_size(self.patch_size, s.height, s.width)
        if self._training is not None:  # a checkpoint's class list before the split's class checks
            self._training.check_classes(self.scene_name, self.class_names)
        self.split  # noqa: B018 -- drawn (and checked: empty classes, val_fraction) before any model step
        if self.serving is None or isinstance(self.serving, StreamedServing):
            self.serving = choose_serving(self, stage)  # mmlgnet.data.serving.choose: prepared (one scan a cube)
        self._served().check_stage(stage)
        trainer = self._trainer_or_none()
        if trainer is not None and stage in ("fit", None):
            log_dir = trainer.log_dir  # on every rank: under DDP log_dir is a broadcast (a collective)
            if trainer.is_global_zero:
                self._report_split(log_dir)

    @property
    def norm_stats(self) -> dict[str, NormStats]:
        """Modality -> the statistics its served cube is normalised with ({} before setup)."""
        return self.serving.norm_stats if self.serving is not None else {}

    def nodata_pixels(self) -> dict[str, np.ndarray | None]:
        """Modality -> its (H, W) nodata pixels when setup's scan found them (the prediction map reuses them)."""
        return self.serving.nodata_pixels() if self.serving is not None else {}

    # ---- checkpointed state: the training scene's statistics and classes ----
    def state_dict(self) -> dict[str, Any]:
        """Saved by Lightning in each checkpoint (under this class's name); empty before setup()."""
        if not self.norm_stats:
            return {}
        return data_state(self.scene_name, self.normalization, self.fill_value, self.class_names, self.norm_stats)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Use the checkpoint's training-scene statistics from now on: the CLI calls this before setup(), Lightning
        again after it (the in-memory scene is normalised at the first batch: still no second normalisation)."""
        if not state_dict:
            return
        training = self._training = TrainingData(state_dict)
        if self.serving is not None:
            self.serving.use_training(training)

    def _trainer_or_none(self) -> Any:
        return getattr(self, "trainer", None)

    def _report_split(self, log_dir: str | None) -> None:
        report_split(self, log_dir)  # mmlgnet.data.sampling.split_report: log table, split.npz, split.json

    def _rank(self) -> tuple[int, int]:
        t = self._trainer_or_none()
        return (t.world_size, t.global_rank) if t is not None else (1, 0)

    def _served(self) -> Serving:
        if self.serving is None:
            raise RuntimeError("HSILidarDataModule: call setup() before asking for batches")
        return self.serving

    def _loader(self, index: np.ndarray, shuffle: bool, batch_size: int) -> DataLoader:
        target = self.scene.labels.reshape(-1)[index].astype(np.int64) - 1  # 0-based; −1 = unlabelled
        return self._served().loader(index, target, shuffle, batch_size, self.split_seed, *self._rank())

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.split.train, True, self.batch_size)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.split.val, False, self.eval_batch_size) if len(self.split.val) else []

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.split.test, False, self.eval_batch_size)

    def predict_dataloader(self) -> DataLoader:
        """Every pixel of the scene, background included, in raster order (or this rank's tiles, streamed)."""
        return self._served().predict_loader(self.eval_batch_size, self.split_seed, *self._rank())

    def gather(self, index: torch.Tensor) -> Batch:
        """Patches of every served modality for flat indices on any device: name -> (B, C, P, P)."""
        assert isinstance(serving := self._served(), (InMemoryServing, WindowedServing))  # streamed: tiles only
        return serving.gather(index)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Batch:
        return self._served().batch(batch)
