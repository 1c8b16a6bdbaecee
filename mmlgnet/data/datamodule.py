"""LightningDataModule: loads a scene, draws the split and serves index batches whose patches are gathered on the device."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import DataLoader

from mmlgnet.data.data_options import check_data_options
from mmlgnet.data.sampling import labelled
from mmlgnet.data.sampling.band_checks import check_bands
from mmlgnet.data.sampling.batches import PatchDataset, PixelBatchSampler, PixelIndexDataset
from mmlgnet.data.sampling.normalization import NormStats, band_stats, norm_stats
from mmlgnet.data.sampling.patches import Normalization, PatchGatherer, check_patch_size, normalized_padded
from mmlgnet.data.sampling.split_report import report_split, split_summary
from mmlgnet.data.sampling.splits import Split, make_split
from mmlgnet.data.sampling.streaming import StreamPlan, plan_stream
from mmlgnet.data.sampling.unseen import check_unseen_option, resolve_unseen
from mmlgnet.data.scenes.card_load import load_card
from mmlgnet.data.scenes.cards import is_card
from mmlgnet.data.scenes.catalog_load import SPECS, Scene, load_scene
from mmlgnet.data.scenes.lazy_scene import LazyScene
from mmlgnet.data.scenes.nodata_source import NodataSource, option_source
from mmlgnet.data.scenes.synthetic import make_synthetic_scene
from mmlgnet.data.scenes.synthetic import synthetic_options as synthetic_options_of
from mmlgnet.data.transfer import TrainingData, data_state
from mmlgnet.errors import ConfigError
from mmlgnet.models.mmlgnet import Modality

log = logging.getLogger(__name__)

Batch = dict[str, torch.Tensor]


class HSILidarDataModule(L.LightningDataModule):
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

    Applying a trained model to another scene: `state_dict()` (saved by Lightning in every checkpoint) holds
    the normalisation statistics of each modality and the class list; `load_state_dict()` (a checkpoint
    given by --ckpt_path) makes this scene be normalised with the TRAINING scene's statistics, after
    checking that its band/channel counts, class names and normalisation match (CheckpointError otherwise).
    Nodata entries are still found with this scene's own nodata value and become the training band mean.
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
        self._windowed: LazyScene | None = None  # MEM: the card's rasters by window (labelled patches only)
        self.stream, self.memory_budget_mb, self.stream_tile = stream, memory_budget_mb, stream_tile
        self._stream: StreamPlan | None = None  # STREAM: streaming tiled predict, when planned (first .scene)
        self._stream_planned = False
        self.synthetic = dict(
            height=synthetic_height, width=synthetic_width, num_classes=synthetic_classes, seed=synthetic_seed,
            **synthetic_options_of(synthetic_options),
        )
        self._scene: Scene | None = None
        self._split: Split | None = None
        self._padded: dict[str, torch.Tensor] = {}
        self._gatherers: dict[str, PatchGatherer] = {}
        self.norm_stats: dict[str, NormStats] = {}  # modality -> the statistics its served cube was normalised with
        self._training: TrainingData | None = None  # from a checkpoint: normalise with the training scene's stats

    # ---- data-decided values, linked into the model by the CLI ----
    @property
    def scene(self) -> Scene:
        if self._scene is None and not self._stream_planned:  # STREAM: a shape-only stub when predict streams
            self._stream_planned, self._stream = True, plan_stream(self)
        if self._scene is None and self._stream is not None:
            return self._stream.stub
        if self._scene is None:
            if self.scene_name == "synthetic":
                self._scene = make_synthetic_scene(**self.synthetic, lidar_bands=self.lidar_channels or 1)
            elif is_card(self.scene_name) and self._windowed_reason() is not None:
                self._windowed, self._scene = labelled.open_labelled_card(
                    self.scene_name, self.lidar_channels, require_hsi="hsi" in self.modalities)
            elif is_card(self.scene_name):
                self._scene = load_card(self.scene_name, lidar_channels=self.lidar_channels,
                                        require_hsi="hsi" in self.modalities)
            else:
                self._scene = load_scene(
                    self.scene_name, self.root, download=self.download, lidar_channels=self.lidar_channels,
                    require_hsi="hsi" in self.modalities, verify=self.verify,
                )
        return self._scene

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

    # ---- Lightning hooks ----
    def setup(self, stage: str | None = None) -> None:
        self.scene  # noqa: B018 -- STREAM: plans streaming on first use (mmlgnet.data.sampling.streaming)
        if self._stream is not None:
            if stage == "predict":
                return self._stream.setup(self)
            self._stream = None  # fit/test/validate load the scene: streaming is a predict path
        s = self.scene
        check_patch_size(self.patch_size, s.height, s.width)
        if self._training is not None:  # a checkpoint's class list before the split's class checks
            self._training.check_classes(self.scene_name, self.class_names)
        self.split  # noqa: B018 -- drawn (and checked: empty classes, val_fraction) before any model step
        if self._windowed is not None and stage == "predict":
            raise ConfigError(
                f"predict maps every pixel of {self.scene_name}, but the scene is read by windows for its labelled "
                f"pixels only (--data.scene_in_memory {str(self.scene_in_memory).lower()}): map it by tiles with "
                f"--data.stream always (or auto), or load it with --data.scene_in_memory true.")
        if not self._gatherers:
            self._serve(check=True)
        trainer = self._trainer_or_none()
        if trainer is not None and stage in ("fit", None):
            log_dir = trainer.log_dir  # on every rank: under DDP log_dir is a broadcast (a collective)
            if trainer.is_global_zero:
                self._report_split(log_dir)

    def _windowed_reason(self) -> str | None:
        """Why this card is read by windows (labelled patches only), logged; None: loaded in memory."""
        why = labelled.windowed_reason(self.scene_in_memory, self.scene_name, self.modalities, self.lidar_channels,
                                       self.memory_budget_mb)
        if why is not None:
            rank_zero_info(f"Scene {self.scene_name}: memory-bounded training data ({why}): statistics in one "
                           f"windowed pass, the labelled pixels' patches gathered by windows.")
        return why

    def _cubes(self) -> dict[str, np.ndarray]:
        s = self.scene
        cubes = {"hsi": s.hsi, "lidar": s.lidar}
        out: dict[str, np.ndarray] = {}
        for name in self.modalities:
            cube = cubes[name]
            if cube is None:
                raise ConfigError(f"--model.modalities asks for {name!r} but the scene {s.name!r} has no "
                                  f"{name} data: add its file, or drop {name!r} from --model.modalities.")
            out[name] = cube
        return out

    def _serve(self, check: bool) -> None:
        """Normalise (own statistics, or the training scene's after load_state_dict), pad and serve each modality."""
        if self._windowed is not None:  # MEM: labelled patches gathered by windows (mmlgnet.data.sampling.labelled)
            sp = self.split
            index = np.unique(np.concatenate([sp.train, sp.val, sp.test]).astype(np.int64))
            self._gatherers, self.norm_stats = labelled.serve_labelled(  # type: ignore[assignment]
                self._windowed, self.scene, self.modalities, index, self.patch_size, self.fill_value,
                self.normalization, self._training.stats if self._training is not None else None, check,
                self.nodata_source)
            return
        cubes = self._cubes()
        if self._training is not None:
            self._training.check(self.scene_name, self.normalization, self.class_names,
                                 {k: int(v.shape[2]) for k, v in cubes.items()})
        for name, cube in cubes.items():
            # Memory (issue 8): one statistics pass shared by the checks and the normalisation, then the
            # normalised scene is written straight into its padded buffer: peak = raw cube + padded cube.
            band = check_bands(self.scene, name, cube, self.fill_value, source=self.nodata_source) if check else None
            if self._training is not None:
                stats = self._training.stats[name]
            else:
                if band is None or cube.dtype != np.float32:
                    band = band_stats(np.asarray(cube, dtype=np.float32), self.fill_value)
                stats = norm_stats(cube, self.normalization, self.fill_value, band=band)
            self.norm_stats[name] = stats
            self._padded[name] = normalized_padded(cube, stats, self.fill_value, self.patch_size)  # (Hp, Wp, C)
            self._gatherers[name] = PatchGatherer(self._padded[name], self.scene.width, self.patch_size)

    # ---- checkpointed state: the training scene's statistics and classes ----
    def state_dict(self) -> dict[str, Any]:
        """Saved by Lightning in each checkpoint (under this class's name); empty before setup()."""
        if not self.norm_stats:
            return {}
        return data_state(self.scene_name, self.normalization, self.fill_value, self.class_names, self.norm_stats)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Use the checkpoint's training-scene statistics from now on (re-normalising if already set up).

        The CLI calls this before setup() (no second pass over the scene); Lightning calls it again when it
        restores the checkpoint, after setup(): a no-op when the statistics already in use are the same.
        """
        if not state_dict:
            return
        training = self._training = TrainingData(state_dict)
        if not self._gatherers:
            return  # setup() will use it
        bands = {k: int(g.channels) for k, g in self._gatherers.items()}
        training.check(self.scene_name, self.normalization, self.class_names, bands)
        if not all(self.norm_stats[k].same_as(training.stats[k]) for k in self._gatherers):
            self._padded, self._gatherers = {}, {}
            self._serve(check=False)

    def _trainer_or_none(self) -> Any:
        return getattr(self, "trainer", None)

    def _report_split(self, log_dir: str | None) -> None:
        report_split(self, log_dir)  # mmlgnet.data.sampling.split_report: log table, split.npz, split.json

    def _targets(self, index: np.ndarray) -> np.ndarray:
        return self.scene.labels.reshape(-1)[index].astype(np.int64) - 1  # 0-based; −1 = unlabelled

    def _loader(self, index: np.ndarray, shuffle: bool, batch_size: int) -> DataLoader:
        trainer = self._trainer_or_none()
        world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        target = self._targets(index)
        if self.pipeline == "per_sample" and self._windowed is not None:
            raise ConfigError("--data.pipeline per_sample cuts patches from the scene in memory; this scene is read "
                              "by windows (labelled patches only): use --data.pipeline device or "
                              "--data.scene_in_memory true.")
        if self.pipeline == "per_sample":
            padded = {k: v.numpy() for k, v in self._padded.items()}
            ds = PatchDataset(padded, self.scene.width, self.patch_size, index, target)
            return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, num_workers=self.num_workers,
                              drop_last=False, persistent_workers=self.num_workers > 0,
                              pin_memory=torch.cuda.is_available())  # a fair baseline: async host→GPU copies
        sampler = PixelBatchSampler(len(index), batch_size, shuffle, seed=self.split_seed, num_replicas=world, rank=rank)
        return DataLoader(PixelIndexDataset(index, target), sampler=sampler, batch_size=None)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.split.train, True, self.batch_size)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.split.val, False, self.eval_batch_size) if len(self.split.val) else []

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.split.test, False, self.eval_batch_size)

    def predict_dataloader(self) -> DataLoader:
        """Every pixel of the scene, background included, in raster order."""
        if self._stream is not None:  # STREAM: this rank's tiles, in pixel chunks
            trainer = self._trainer_or_none()
            return self._stream.dataloader(*((trainer.world_size, trainer.global_rank) if trainer else (1, 0)))
        return self._loader(np.arange(self.scene.height * self.scene.width), False, self.eval_batch_size)

    def gather(self, index: torch.Tensor) -> Batch:
        """Patches of every served modality for flat indices on any device: name -> (B, C, P, P)."""
        out = {}
        for name, g in self._gatherers.items():
            if g.device != index.device:
                g = self._gatherers[name] = g.to(index.device)  # moved once, then reused
                self._padded.pop(name, None)  # the host copy is not needed any more: host RAM keeps the raw scene only
            out[name] = g(index)
        return out

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Batch:
        if self._stream is not None and isinstance(batch, torch.Tensor):  # STREAM: [tile, start, stop]
            return self._stream.batch(batch)
        if isinstance(batch, dict):  # per_sample path: patches already cut
            return batch
        index, target = batch  # (B,), (B,)
        return {"index": index, "target": target, **self.gather(index)}
