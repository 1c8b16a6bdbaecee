"""`python -m mmlgnet {fit,validate,test,predict}`: LightningCLI wiring data-decided values into the model."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.plugins.layer_sync import LayerSync
from lightning.pytorch.utilities import rank_zero_info

from mmlgnet.atomic import AtomicCheckpointIO
from mmlgnet.datamodule import HSILidarDataModule
from mmlgnet.module import MMLGNetModule
from mmlgnet.syncbn import AnyDeviceSyncBatchNormPlugin


class MMLGNetCLI(LightningCLI):
    """LightningCLI with the data→model links of DESIGN §4 and an optional test right after fit."""

    def add_arguments_to_parser(self, parser: Any) -> None:
        parser.add_argument(
            "--test_after_fit", type=bool, default=False,
            help="(fit only) test the last checkpoint (or the best-val/OA one when a validation set exists)",
        )
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
        if not self.config[self.subcommand].get("test_after_fit"):
            return
        best = [c for c in self.trainer.checkpoint_callbacks if getattr(c, "monitor", None)]
        ckpt = best[0].best_model_path if best and best[0].best_model_path else self.trainer.checkpoint_callback.last_model_path
        rank_zero_info(f"test_after_fit: testing {ckpt}")
        self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=ckpt or None)


def main(args: list[str] | None = None) -> MMLGNetCLI:
    return MMLGNetCLI(
        MMLGNetModule, HSILidarDataModule, seed_everything_default=0, args=args,
        save_config_kwargs={"overwrite": True},
    )
