"""`python -m mmlgnet {fit,validate,test,predict}`: LightningCLI wiring data-decided values into the model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.plugins.layer_sync import LayerSync
from lightning.pytorch.utilities import rank_zero_info

from mmlgnet.datamodule import HSILidarDataModule
from mmlgnet.module import MMLGNetModule
from mmlgnet.prediction import PredictionMapWriter
from mmlgnet.syncbn import AnyDeviceSyncBatchNormPlugin
from mmlgnet.tracking import TestResultsLogger, WandbConfigSaver, finish


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO that writes `<name>.tmp` then renames it, so a crash mid-save keeps the old file."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        super().save_checkpoint(checkpoint, tmp, storage_options)
        os.replace(tmp, path)


class MMLGNetCLI(LightningCLI):
    """LightningCLI with the data→model links of DESIGN §4 and an optional test right after fit."""

    def add_arguments_to_parser(self, parser: Any) -> None:
        parser.add_argument(
            "--test_after_fit", type=bool, default=False,
            help="(fit only) test the last checkpoint (or the best-val/OA one when a validation set exists)",
        )
        parser.add_argument(
            "--predict_after_fit", type=bool, default=False,
            help="(fit only) after fit (and test), classify every pixel and write the maps (see --predict_writer)",
        )
        # Full-scene map writer: acts only in predict loops (the predict subcommand, --predict_after_fit).
        parser.add_lightning_class_args(PredictionMapWriter, "predict_writer")
        parser.link_arguments("model.modalities", "data.modalities")
        for source, target in (("num_classes", "num_classes"), ("class_names", "class_names"),
                               ("hsi_channels", "hsi_channels"), ("lidar_channels_out", "lidar_channels"),
                               ("scene_name", "scene_name")):
            parser.link_arguments(f"data.{source}", f"model.{target}", apply_on="instantiate")

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        trainer_cfg = self._get(self.config_init, "trainer", default={})
        plugins = list(trainer_cfg.get("plugins") or [])
        if not any(hasattr(p, "save_checkpoint") for p in plugins):
            plugins.append(AtomicCheckpointIO())
        if trainer_cfg.get("sync_batchnorm") and not any(isinstance(p, LayerSync) for p in plugins):
            plugins.append(AnyDeviceSyncBatchNormPlugin())  # torch's SyncBatchNorm refuses CPU (gloo) tensors
        return super().instantiate_trainer(**kwargs, plugins=plugins)

    def after_fit(self) -> None:
        cfg = self.config[self.subcommand]
        if cfg.get("test_after_fit") or cfg.get("predict_after_fit"):
            best = [c for c in self.trainer.checkpoint_callbacks if getattr(c, "monitor", None)]
            ckpt = best[0].best_model_path if best and best[0].best_model_path else self.trainer.checkpoint_callback.last_model_path
            if cfg.get("test_after_fit"):
                rank_zero_info(f"test_after_fit: testing {ckpt}")
                self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=ckpt or None)
            if cfg.get("predict_after_fit"):
                rank_zero_info(f"predict_after_fit: full-scene maps from {ckpt}")
                self.trainer.predict(self.model, datamodule=self.datamodule, ckpt_path=ckpt or None,
                                     return_predictions=False)
        finish()  # one CLI call = one W&B run (matters when main() is called repeatedly in one process)

    def after_validate(self) -> None:
        finish()

    def after_test(self) -> None:
        finish()

    def after_predict(self) -> None:
        finish()


def main(args: list[str] | None = None) -> MMLGNetCLI:
    return MMLGNetCLI(
        MMLGNetModule, HSILidarDataModule, seed_everything_default=0, args=args,
        save_config_callback=WandbConfigSaver, save_config_kwargs={"overwrite": True},
        trainer_defaults={"callbacks": [TestResultsLogger()]},
    )
