"""Weights & Biases: an offline-aware logger, the full config, per-class table, confusion and map images (wandb imported lazily)."""

from __future__ import annotations

import json
import logging
import netrc
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only

log = logging.getLogger(__name__)
#: test_metrics.json scores put in each W&B run's summary as test/<key> (the dashboard's bars).
SUMMARY_KEYS = ("OA", "AA", "kappa", "seen_accuracy", "unseen_accuracy", "harmonic_mean")
_announced_offline = False  # say "offline, sync later with ..." once per process


def has_api_key() -> bool:
    """True when a W&B API key is available without asking the network: WANDB_API_KEY or ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def sync_command(save_dir: str | Path) -> str:
    return f"wandb sync {Path(save_dir) / 'wandb'}/offline-run-*"


class WandbLogger(_LightningWandbLogger):
    """Lightning's WandbLogger that goes offline by itself when no API key is configured.

    With `offline: null` (default) it logs online when WANDB_API_KEY or a `wandb login` (~/.netrc) is
    found, otherwise offline under `<save_dir>/wandb/` and says once, with the `wandb sync` command to
    upload later. WANDB_MODE (offline/disabled/online) set in the environment always wins. Runs are grouped
    for the dashboard with `group` (e.g. scene + split), `job_type` (e.g. the variant), `tags` and `name`.
    `project: null` means $WANDB_PROJECT or `mmlgnet`.
    """

    def __init__(
        self,
        project: str | None = None,
        name: str | None = None,
        group: str | None = None,
        job_type: str | None = None,
        tags: list[str] | None = None,
        notes: str | None = None,
        save_dir: str = "runs",
        offline: bool | None = None,
        log_model: bool = False,
    ) -> None:
        mode = os.environ.get("WANDB_MODE", "").lower()
        if offline is None:
            offline = mode in ("offline", "dryrun") or (mode not in ("online", "disabled") and not has_api_key())
        super().__init__(
            name=name, save_dir=save_dir, offline=bool(offline), project=project or os.environ.get("WANDB_PROJECT", "mmlgnet"),
            log_model=log_model and not offline, group=group, job_type=job_type, tags=list(tags) if tags else None,
            notes=notes,
        )
        # Lightning always passes wandb.init(anonymous=None), and wandb (>= 0.19) warns "The anonymous setting has
        # no effect and will be removed" for any value given: not giving it changes nothing else.
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        if offline and mode != "disabled":
            _announce_offline(save_dir)


@rank_zero_only
def _announce_offline(save_dir: str | Path) -> None:
    global _announced_offline
    if not _announced_offline:
        _announced_offline = True
        rank_zero_info(f"W&B: no API key found (WANDB_API_KEY / `wandb login`), logging OFFLINE under "
                       f"{Path(save_dir) / 'wandb'}. Upload later with:  {sync_command(save_dir)}")


def wandb_loggers(trainer: L.Trainer) -> list[_LightningWandbLogger]:
    return [lg for lg in trainer.loggers if isinstance(lg, _LightningWandbLogger)]


@rank_zero_only
def log_images(trainer: L.Trainer, images: dict[str, Path]) -> None:
    """Log PNG files as W&B images (key -> path) to every W&B logger of the trainer; no-op without one."""
    loggers = wandb_loggers(trainer)
    if not loggers or not images:
        return
    import wandb

    for lg in loggers:
        lg.experiment.log({k: wandb.Image(str(p)) for k, p in images.items()})


def finish(exit_code: int = 0) -> None:
    """End the current W&B run, if wandb was imported and a run is open (one CLI call = one W&B run)."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish(exit_code=exit_code)


class WandbConfigSaver(SaveConfigCallback):
    """Saves config.yaml in the log dir (as Lightning does) and logs the full CLI config to W&B loggers."""

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        loggers = wandb_loggers(trainer)
        if loggers:
            config = json.loads(json.dumps(self.config.as_dict(), default=str))
            for lg in loggers:
                lg.experiment.config.update({"cli": config}, allow_val_change=True)


class TestResultsLogger(Callback):
    """After `test`: draws the test confusion matrix PNG next to test_metrics.json and logs to W&B the
    per-class accuracy table (with train/test counts), the confusion matrix image and the headline scores."""

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        log_dir = trainer.log_dir  # on every rank: under DDP log_dir is a broadcast (a collective)
        if not trainer.is_global_zero:
            return
        path = Path(log_dir or trainer.default_root_dir) / "test_metrics.json"
        if not path.is_file():
            return
        rec = json.loads(path.read_text())
        names = list(rec["per_class_accuracy"])
        from mmlgnet.mapping import maps  # matplotlib only when a test actually ran

        png = maps.save_confusion(path.with_name("test_confusion_matrix.png"), rec["confusion_matrix"], names,
                                  f"Test confusion (row-normalised): {rec.get('scene', '')}")
        loggers = wandb_loggers(trainer)
        if not loggers:
            return
        import wandb

        counts = (rec.get("split") or {}).get("counts") or {}
        rows = [[n, (counts.get("train") or [None] * len(names))[i], (counts.get("test") or [None] * len(names))[i],
                 rec["per_class_accuracy"][n]] for i, n in enumerate(names)]
        for lg in loggers:
            lg.experiment.log({
                "test/per_class": wandb.Table(columns=["class", "train pixels", "test pixels", "accuracy (%)"], data=rows),
                "test/confusion_matrix": wandb.Image(str(png)),
            })
            for key in SUMMARY_KEYS:  # open-vocabulary scores only when classes were held out (null: undefined)
                if rec.get(key) is not None:
                    lg.experiment.summary[f"test/{key}"] = rec[key]
