"""`python -m mmlgnet {fit,validate,test,predict}`: LightningCLI wiring data-decided values into the model."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.plugins.layer_sync import LayerSync
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from mmlgnet import configs, console, outputs
from mmlgnet.atomic import default_file_mode
from mmlgnet.data.datamodule import HSILidarDataModule
from mmlgnet.errors import UntrainedModelError
from mmlgnet.mapping.prediction import PredictionMapWriter
from mmlgnet.tracking.wandb_logger import TestResultsLogger, WandbConfigSaver, finish
from mmlgnet.training import checkpoints, open_vocab
from mmlgnet.training.layer_sync import AnyDeviceSyncBatchNormPlugin
from mmlgnet.training.module import MMLGNetModule
from mmlgnet.training.network import check_network_option, check_saved_network
from mmlgnet.training.runtime import add_threads_argument, apply_threads, restored_threads


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO that writes `<name>.tmp` then renames it, so a crash mid-save keeps the old file,
    and restores --ckpt_path from the dict the CLI's guards already read (`held`), so the file is read once."""

    def __init__(self, held: checkpoints.HeldCheckpoint | None = None) -> None:
        super().__init__()
        self.held = held

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        ckpt = self.held.take(path) if self.held is not None else None  # loaded on the CPU, weights only
        if ckpt is not None:
            return ckpt
        if map_location is None:
            return super().load_checkpoint(path, weights_only=weights_only)
        return super().load_checkpoint(path, map_location, weights_only)

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        super().save_checkpoint(checkpoint, tmp, storage_options)
        # fsspec (under Lightning's save) sets the mode from a umask it caches on first use: use today's umask
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)


class MMLGNetCLI(LightningCLI):
    """LightningCLI with the data→model links of DESIGN §4, an optional test right after fit, and the
    result guards: a readable checkpoint that agrees with the model options given, and no untrained model
    tested, mapped or left as the outcome of a fit unless `--allow_untrained true` (recorded in the results).
    With --ckpt_path, the checkpoint's training-scene statistics and classes go to the datamodule before its
    setup(), so another scene is normalised as the training scene was (HSILidarDataModule.load_state_dict).
    """

    _data_state: dict[str, Any] | None = None  # the checkpoint's datamodule state (--ckpt_path), if any
    _ckpt_scene: str | None = None  # the checkpoint's training scene (hyperparameter scene_name)
    _held: checkpoints.HeldCheckpoint | None = None  # --ckpt_path as read once by the guards

    def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
        parser = super().init_parser(**kwargs)
        configs.describe_option(parser)  # --config: a file or a shipped config's name (--help says so)
        return parser

    def add_arguments_to_parser(self, parser: Any) -> None:
        parser.add_argument(
            "--allow_untrained", type=bool, default=False,
            help="debugging only: test/predict a model that never took a training step (no --ckpt_path, "
            "max_epochs 0, no training batch); recorded as allow_untrained: true in test_metrics.json and maps.json",
        )
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
        add_threads_argument(parser)  # --threads: part of the run, the same under every launcher
        parser.link_arguments("model.modalities", "data.modalities")
        for source, target in (("num_classes", "num_classes"), ("class_names", "class_names"),
                               ("hsi_channels", "hsi_channels"), ("lidar_channels_out", "lidar_channels"),
                               ("scene_name", "scene_name"), ("unseen_class_names", "unseen_classes"),
                               ("class_descriptions", "class_descriptions"), ("patch_size", "patch_size")):
            parser.link_arguments(f"data.{source}", f"model.{target}", apply_on="instantiate")

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse, then check `--ckpt_path` before LightningCLI reads its hyperparameters into the config:
        an unreadable file is a CheckpointError naming it, and a model option given explicitly (command
        line or config file) that contradicts the checkpoint is a CheckpointError listing each difference
        (LightningCLI would otherwise replace the given value by the checkpoint's without a word)."""
        super().parse_arguments(parser, args)
        sub = self.config.get("subcommand")
        if not sub:
            return
        cfg = self.config[sub]
        apply_threads(cfg.get("threads"))  # before anything is built or computed (mmlgnet.training.runtime)
        ckpt_path = cfg.get("ckpt_path")
        if ckpt_path is None and sub in ("test", "predict") and not cfg.get("allow_untrained"):
            raise checkpoints.untrained_error(sub)  # early, before CLIP and the scene are loaded (the module too)
        if ckpt_path is None or checkpoints.is_lightning_keyword(ckpt_path):
            return
        self._held = checkpoints.HeldCheckpoint(ckpt_path)  # the one read of the file (see _parse_ckpt_path)
        ckpt = self._held.ckpt or {}
        if (sub in ("test", "predict") and checkpoints.trained_state(ckpt)["global_step"] == 0
                and not cfg.get("allow_untrained")):
            raise checkpoints.untrained_error(sub, ckpt_path)
        self._data_state = ckpt.get(HSILidarDataModule.__qualname__) or None
        saved = ckpt.get("hyper_parameters") or {}
        check_saved_network(saved, ckpt_path)  # its network class must import: one line, not jsonargparse's dump
        self._ckpt_scene = str(saved.get("scene_name") or "") or None
        if isinstance(args, dict) or hasattr(args, "as_dict"):
            explicit = parser.parse_object(args, defaults=False)
        else:
            explicit = parser.parse_args(args, defaults=False)
        given = (explicit.get(sub) or {}).get("model") or {}
        checkpoints.check_options(ckpt_path, checkpoints.plain(given), saved)

    def _parse_ckpt_path(self) -> None:
        """LightningCLI's step that puts the checkpoint's hyperparameters into the config, on the dict the guards
        read (Lightning's own would torch.load the file a second time); the same logic as Lightning 2.6's."""
        held = self._held.ckpt if self._held is not None else None
        if held is None:
            super()._parse_ckpt_path()
            return
        hparams = dict(held.get("hyper_parameters") or {})  # a copy: the dict goes on to the Trainer's restore
        hparams.pop("_instantiator", None)
        if not hparams:
            return
        if "_class_path" in hparams:
            hparams = {"class_path": hparams.pop("_class_path"), "dict_kwargs": hparams}
        try:
            self.config = self.parser.parse_object({self.config.subcommand: {"model": hparams}}, self.config)
        except SystemExit:
            sys.stderr.write("Parsing of ckpt_path hyperparameters failed!\n")
            raise

    def before_instantiate_classes(self) -> None:
        """Every output folder is checked before anything is built or computed (mmlgnet.outputs): exit 2 at start."""
        sub = self.config.get("subcommand")
        if sub:
            outputs.check_cli_outputs(self.config[sub], sub)

    def after_instantiate_classes(self) -> None:
        open_vocab.check_subcommand(self.subcommand, self.model)  # --model.predict_class_names: predict only
        cfg = self.config[self.subcommand] if self.subcommand else self.config
        self.model.allow_untrained = bool(cfg.get("allow_untrained"))
        if self._data_state and isinstance(self.datamodule, HSILidarDataModule):
            # before setup(): one normalisation pass; no class-name check when predict maps another class list
            self.datamodule.load_state_dict(self.model.open_vocab.data_state(self._data_state))
        elif self._ckpt_scene and self._ckpt_scene != getattr(self.datamodule, "scene_name", self._ckpt_scene):
            rank_zero_warn(f"--ckpt_path holds no normalisation statistics (written by an older mmlgnet): the scene "
                           f"{self.datamodule.scene_name!r} is normalised with its own statistics, not those of the "
                           f"training scene {self._ckpt_scene!r}. Re-run fit to write a checkpoint that carries them.")

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        trainer_cfg = self._get(self.config_init, "trainer", default={})
        plugins = list(trainer_cfg.get("plugins") or [])
        if not any(hasattr(p, "save_checkpoint") for p in plugins):
            plugins.append(AtomicCheckpointIO(self._held))
        if trainer_cfg.get("sync_batchnorm") and not any(isinstance(p, LayerSync) for p in plugins):
            plugins.append(AnyDeviceSyncBatchNormPlugin())  # torch's SyncBatchNorm refuses CPU (gloo) tensors
        trainer = super().instantiate_trainer(**kwargs, plugins=plugins)
        console.drop_flops_column(trainer)  # Lightning's model summary less its FLOPs (always 0 here)
        return trainer

    def after_fit(self) -> None:
        cfg = self.config[self.subcommand]
        if self.trainer.global_step == 0 and not cfg.get("allow_untrained"):
            raise UntrainedModelError(
                f"fit took no training step (trainer.max_epochs={self.trainer.max_epochs}, "
                f"training batches per epoch: {self.trainer.num_training_batches}): the model is untrained, so "
                "nothing is tested or mapped. Give --trainer.max_epochs >= 1 and training batches (check "
                "--trainer.limit_train_batches and that the split has training pixels: --data.split), or pass "
                f"{checkpoints.ALLOW_UNTRAINED}."
            )
        if cfg.get("test_after_fit") or cfg.get("predict_after_fit"):
            ckpt = self._checkpoint_to_evaluate()
            if cfg.get("test_after_fit"):
                rank_zero_info(f"test_after_fit: testing {ckpt}")
                self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=ckpt or None)
            if cfg.get("predict_after_fit"):
                rank_zero_info(f"predict_after_fit: full-scene maps from {ckpt}")
                self.trainer.predict(self.model, datamodule=self.datamodule, ckpt_path=ckpt or None,
                                     return_predictions=False)
        finish()  # one CLI call = one W&B run (matters when main() is called repeatedly in one process)

    def _checkpoint_to_evaluate(self) -> str | None:
        """The best-val/OA checkpoint when a monitored ModelCheckpoint saved one, else last.ckpt (None: none saved)."""
        callbacks = [c for c in self.trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint)]
        best = [c.best_model_path for c in callbacks if c.monitor and c.best_model_path]
        last = [c.last_model_path for c in callbacks if c.last_model_path]
        found = best or last
        return found[0] if found else None

    def after_validate(self) -> None:
        finish()

    def after_test(self) -> None:
        finish()

    def after_predict(self) -> None:
        finish()


def main(args: list[str] | None = None) -> MMLGNetCLI:
    """Run the CLI in this process; errors propagate (tests and `mmlgnet.repro.reproduce` catch them)."""
    console.quiet_noise()
    if args is None:  # the command line, given on as args once its shipped --config names are resolved (no warning)
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
    args = configs.resolve_config_args(sys.argv[1:] if args is None else args)  # --config demo.yaml: shipped
    check_network_option(sys.argv[1:] if args is None else args)  # one-line error, before jsonargparse's dump
    with restored_threads():  # the run's --threads apply inside; the caller's thread count comes back after
        return MMLGNetCLI(
            MMLGNetModule, HSILidarDataModule, seed_everything_default=0, args=args,
            save_config_callback=WandbConfigSaver, save_config_kwargs={"overwrite": True},
            trainer_defaults={"callbacks": [TestResultsLogger()]},
        )


def run(args: list[str] | None = None) -> None:
    """Console entry point (`python -m mmlgnet`, the `mmlgnet` script): `main()` with the user's view.

    A UserError of ours (bad data, split, option, weights, checkpoint, untrained model), also when
    jsonargparse or Lightning wrapped it, prints `error: <message>` on stderr and exits with code 2 (as
    jsonargparse does for a bad option); MMLGNET_DEBUG=1 shows the full traceback instead.
    """
    console.configure_console()
    try:
        main(args)
    except Exception as e:
        user_error = console.find_user_error(e)
        if user_error is None or console.debug_enabled():
            raise
        finish(exit_code=2)
        print(f"error: {console.error_message(user_error)}", file=sys.stderr)
        raise SystemExit(2) from None
