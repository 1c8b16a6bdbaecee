"""Full-scene prediction writer: class map (.npy, PNG in the scene palette), ground truth, error map, confusion."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from mmlgnet.atomic import save_npy, write_json
from mmlgnet.data.scenes.labelled_nodata import scene_void
from mmlgnet.errors import ConfigError
from mmlgnet.mapping import maps
from mmlgnet.mapping.output_lock import OutputLock
from mmlgnet.mapping.stream_run import StreamRun, start_stream
from mmlgnet.training import open_vocab, runtime
from mmlgnet.training.metrics import scores_from_confusion

log = logging.getLogger(__name__)


class PredictionMapWriter(BasePredictionWriter):
    """Collects `predict_step` outputs (index/pred/score) of every scene pixel and writes the maps on rank 0.

    Files in `output_dir` (default: `<the run's log dir>/maps`):
    `prediction.npy` (H, W) int16 class ids 1..K for every pixel, background included; `confidence.npy`
    (H, W) float32 softmax maximum (both 0 at nodata pixels: any band equal to the nodata value);
    `prediction.png`, `ground_truth.png` (0 = unlabelled in black),
    `error_map.png` (test pixels: green right, red wrong), `confusion_matrix.png` (row-normalised, test
    pixels) and `maps.json` (scores over the test pixels, file list, the `environment` the map was computed in:
    mmlgnet.training.runtime). When the scene is georeferenced
    (a scene card whose rasters carry a CRS and geotransform) also `prediction.tif` (class ids, the palette
    as colour table, class names as tags), `confidence.tif` (float32), `ground_truth.tif` and `error_map.tif`
    (1 right, 2 wrong test pixels), with the input's CRS and transform: they open in place in QGIS. The images are also logged to every
    W&B logger of the trainer.

    Under DDP every rank fills the pixels of its own shard into a full-size buffer (−1 elsewhere); the
    buffers are max-reduced across ranks at the end of the epoch, so rank 0 holds the whole map.

    From its setup to its teardown, rank 0 holds `<output_dir>/.lock` (mmlgnet.mapping.output_lock): a second predict
    into the same folder is refused at once, naming the holder, instead of mixing its maps with this one's.

    Args:
        output_dir: where to write; None = `<trainer.log_dir>/maps` (`default_root_dir` without a logger).
        enabled: False turns the writer off (e.g. a predict run whose outputs you consume yourself).
    """

    def __init__(self, output_dir: str | None = None, enabled: bool = True) -> None:
        super().__init__(write_interval="batch")
        self.output_dir, self.enabled = output_dir, enabled
        self._pred: torch.Tensor | None = None
        self._score: torch.Tensor | None = None
        self.written: dict[str, Path] = {}
        self._stream: StreamRun | None = None  # a streaming (tiled) prediction: mmlgnet.mapping.stream_run
        self._lock: OutputLock | None = None  # rank 0's hold on the output folder while a predict runs

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # Our batches are index tensors (no sampler batch indices to track): Lightning's warning is noise.
        warnings.filterwarnings("ignore", message="Couldn't infer the batch indices", category=UserWarning)
        plan = getattr(_datamodule(trainer), "_stream", None)
        self._stream = None
        if stage == "predict" and plan is not None and not self.enabled:
            raise ConfigError("--predict_writer.enabled false with a streaming prediction (--data.stream): the "
                              "tiles would be classified and thrown away. Enable the writer or use --data.stream never.")
        if stage != "predict" or not self.enabled:
            return
        self._release()  # a lock left by an earlier predict of this writer would refuse this one
        out = self.resolve_output_dir(trainer)  # every rank: trainer.log_dir is a broadcast under DDP
        if trainer.is_global_zero:  # one predict per output folder (refused at once, naming the holder)
            how = "--predict_writer.output_dir" if self.output_dir else "the default: <log dir>/maps"
            self._lock = OutputLock(out, how).acquire()
        if plan is not None:  # after the datamodule's setup; resume is decided once the weights are restored
            plan.before_loader = lambda: self._start_stream(trainer, plan, out)
            trainer.predict_loop.return_predictions = False  # the maps go to disk: keep no per-pixel outputs

    def _start_stream(self, trainer: L.Trainer, plan: Any, out: Path) -> None:
        self._stream = start_stream(trainer, plan, out)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._release()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def on_predict_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.enabled or self._stream is not None:
            return
        scene = _datamodule(trainer).scene
        n = scene.height * scene.width
        self._pred = torch.full((n,), -1, dtype=torch.long)  # (H*W,) 0-based class, −1 = not predicted here
        self._score = torch.full((n,), -1.0, dtype=torch.float32)

    def write_on_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, prediction: Any,
                           batch_indices: Any, batch: Any, batch_idx: int, dataloader_idx: int) -> None:
        if self._stream is not None:
            self._stream.write_batch(prediction, batch)
            return
        if not self.enabled or self._pred is None or self._score is None:
            return
        index = prediction["index"].detach().cpu()  # (B,) flat pixel indices
        self._pred[index] = prediction["pred"].detach().cpu().long()
        self._score[index] = prediction["score"].detach().float().cpu()

    def on_predict_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._stream is not None:
            self.written, self._stream = self._stream.finish(trainer), None
            return
        if not self.enabled or self._pred is None or self._score is None:
            return
        pred, score = self._pred, self._score
        if trainer.world_size > 1:  # collective: every rank takes part
            dev = pl_module.device
            pred = trainer.strategy.reduce(pred.to(dev), reduce_op="max").cpu()
            score = trainer.strategy.reduce(score.to(dev), reduce_op="max").cpu()
        self._pred = self._score = None
        out = self.resolve_output_dir(trainer)  # every rank: trainer.log_dir is a broadcast under DDP
        if trainer.is_global_zero:
            self.written = self.write_maps(trainer, pred.numpy(), score.numpy(), out)

    def resolve_output_dir(self, trainer: L.Trainer) -> Path:
        if self.output_dir:
            return Path(self.output_dir)
        return Path(trainer.log_dir or trainer.default_root_dir) / "maps"

    def write_maps(self, trainer: L.Trainer, pred0: np.ndarray, score: np.ndarray, out: Path) -> dict[str, Path]:
        dm = _datamodule(trainer)
        scene, split = dm.scene, dm.split
        h, w, k = scene.height, scene.width, scene.num_classes
        missing = int((pred0 < 0).sum())
        if missing:
            rank_zero_warn(f"PredictionMapWriter: {missing} of {h * w} pixels were not predicted (limit_predict_batches?); "
                           "they are 0 in prediction.npy and black in prediction.png.")
        pred = (pred0 + 1).reshape(h, w).astype(np.int16)  # 1..K, 0 = not predicted
        conf = score.reshape(h, w).astype(np.float32)  # (H, W)
        void = scene_void(scene, dm.fill_value, dm.nodata_pixels())  # (H, W) bool: fit's scan, not a new pass
        pred[void], conf[void] = 0, 0.0
        names, palette, tag = list(scene.class_names), scene.palette, f"{scene.name} ({dm.split_protocol})"
        # the maps' classes: the model's with --model.predict_class_names (then not scored against the labels)
        pnames, ppalette, scored = open_vocab.map_classes(trainer.lightning_module, names, palette)
        test = split.test[pred.reshape(-1)[split.test] > 0] if scored else split.test[:0]
        confusion = maps.confusion_from_maps(pred, scene.labels, test, k)
        scores = scores_from_confusion(torch.as_tensor(confusion)) if scored else {
            s: torch.tensor(float("nan")) for s in ("OA", "AA", "kappa")}  # null in maps.json
        files = {
            "prediction.npy": save_npy(out / "prediction.npy", pred),
            "confidence.npy": save_npy(out / "confidence.npy", conf),
            "prediction.png": maps.save_class_map(out / "prediction.png", pred, pnames, ppalette,
                                                  f"Prediction, every pixel: {tag}"),
            "ground_truth.png": maps.save_class_map(out / "ground_truth.png", scene.labels, names, palette,
                                                    f"Ground truth (black: unlabelled): {scene.name}"),
            "error_map.png": maps.save_error_map(out / "error_map.png", pred, scene.labels, test,
                                                 f"Test pixels: OA {float(scores['OA']):.2f} %"),
            "confusion_matrix.png": maps.save_confusion(out / "confusion_matrix.png", confusion, names,
                                                        f"Confusion (test pixels, row-normalised): {tag}"),
        }
        if scene.crs is not None and scene.transform is not None:
            files.update(_write_geotiffs(out, scene, pred, conf, test, pnames, ppalette))
        write_json(out / "maps.json", {
            "scene": scene.name, "split": dm.split_protocol, "shape": [h, w], "class_names": pnames,
            "test_pixels": int(len(test)), "OA": float(scores["OA"]), "AA": float(scores["AA"]),
            "kappa": float(scores["kappa"]), "confusion_matrix": confusion.tolist(),
            "nodata_pixels": int(void.sum()), "crs": scene.crs,
            "transform": list(scene.transform) if scene.transform is not None else None,
            "predicted_class_counts": np.bincount(pred.reshape(-1), minlength=len(pnames) + 1)[1:].tolist(),
            "checkpoint": str(trainer.ckpt_path) if trainer.ckpt_path else None,
            "trained": _trained_state(trainer),
            "allow_untrained": bool(getattr(trainer.lightning_module, "allow_untrained", False)),
            "environment": runtime.environment(trainer.lightning_module.device),  # as test_metrics.json records it
            "files": {n: str(p) for n, p in files.items()},
        })
        rank_zero_info(f"PredictionMapWriter: wrote {len(files)} files to {out}")
        from mmlgnet.tracking.wandb_logger import (
            log_images,  # no wandb import unless a W&B logger is configured
        )

        log_images(trainer, {f"maps/{n.removesuffix('.png')}": p for n, p in files.items() if n.endswith(".png")})
        return files


def _write_geotiffs(out: Path, scene: Any, pred: np.ndarray, conf: np.ndarray, test: np.ndarray,
                    pred_names: list[str], pred_palette: Any) -> dict[str, Path]:
    """prediction/confidence/ground_truth/error_map .tif on the scene's CRS and geotransform."""
    from mmlgnet.mapping import georef  # rasterio only when a georeferenced scene is mapped

    crs, tf, names, palette = scene.crs, scene.transform, list(scene.class_names), scene.palette
    errors = np.zeros(pred.shape, dtype=np.uint8)  # (H, W) 0 = not a test pixel
    flat = errors.reshape(-1)
    flat[test] = np.where(pred.reshape(-1)[test] == scene.labels.reshape(-1)[test], 1, 2)
    return {
        "prediction.tif": georef.write_class_tif(out / "prediction.tif", pred, crs, tf, pred_names, pred_palette,
                                                 "predicted class (0 = nodata/unclassified)"),
        "confidence.tif": georef.write_float_tif(out / "confidence.tif", conf, crs, tf, "softmax maximum"),
        "ground_truth.tif": georef.write_class_tif(out / "ground_truth.tif", scene.labels, crs, tf, names, palette,
                                                   "ground truth (0 = unlabelled)"),
        "error_map.tif": georef.write_class_tif(out / "error_map.tif", errors, crs, tf, georef.ERROR_CLASSES,
                                                georef.ERROR_PALETTE, "test pixels: 1 correct, 2 wrong"),
    }


def _datamodule(trainer: L.Trainer) -> Any:
    """The running datamodule (HSILidarDataModule): Lightning sets `trainer.datamodule` at run time, undeclared."""
    return getattr(trainer, "datamodule", None)




def _trained_state(trainer: L.Trainer) -> dict[str, int] | None:
    """global_step/epochs of the weights that made the map (MMLGNetModule records them; None for other modules)."""
    state = getattr(trainer.lightning_module, "trained_state", None)
    return state() if callable(state) else None
