"""Weights & Biases: the run logger (mmlgnet.tracking.wandb_logger) and the workspace dashboard (mmlgnet.tracking.dashboard).

`mmlgnet.tracking.WandbLogger`, the class path the configs name, stays valid: the names below are looked up in
mmlgnet.tracking.wandb_logger on first use, so importing this package (the dashboard does) loads no Lightning.
"""

from __future__ import annotations

from typing import Any

_LOGGER_NAMES = ("WandbLogger", "WandbConfigSaver", "TestResultsLogger")  # classes a config may name


def __getattr__(name: str) -> Any:
    if name in _LOGGER_NAMES:
        from mmlgnet.tracking import wandb_logger

        return getattr(wandb_logger, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
