"""The optimiser and learning-rate schedule of a fit, from the module's options (pure torch, no Lightning).

MMLGNetModule.configure_optimizers hands its named parameters and options here. The options exist so that each
established method's overlay (configs/baselines/<name>.yaml) can carry its reference's own recipe:

- optimiser: `adamw` (the package's default), `adam`, `nadam` or `sgd` (+ `momentum`), each the torch class with
  the given lr and its own torch defaults otherwise (betas (0.9, 0.999), eps 1e-8, NAdam momentum_decay 4e-3).
- weight decay means what the chosen torch optimiser means by it: DECOUPLED for AdamW (w ← w − lr·λ·w beside the
  Adam step), COUPLED for Adam, NAdam and SGD (λ·w added to the gradient, so it goes through the adaptive step):
  the gradient of an L2 term in the loss. A loss term c·Σw² is weight_decay 2c (Keras `l2(c)`); c·Σw²/2 is
  weight_decay c (TensorFlow's `c * tf.nn.l2_loss(w)`).
- where decay applies: `weights` (default) = every parameter with more than one dimension (conv kernels, linear
  matrices, tokens and embeddings), never biases nor normalisation scales/shifts; `all` = every parameter (as
  torch's `Adam(model.parameters(), weight_decay=...)`). The text head's learned `logit_scale` is never decayed.
- schedule: `cosine` (CosineAnnealingLR over max_epochs), `none`, or `step` (StepLR: lr·gamma every
  `lr_step_size` epochs); stepped once per epoch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, Literal

import torch

from mmlgnet.errors import ConfigError

OptimizerName = Literal["adamw", "adam", "nadam", "sgd"]
SchedulerName = Literal["cosine", "none", "step"]
DecayOn = Literal["weights", "all"]

OPTIMIZERS: tuple[str, ...] = ("adamw", "adam", "nadam", "sgd")
SCHEDULERS: tuple[str, ...] = ("cosine", "none", "step")
DECAY_ON: tuple[str, ...] = ("weights", "all")


@dataclass(frozen=True)
class OptimOptions:
    """The module's optimisation options (its `--model.*` names); the defaults are the package's recipe."""

    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    weight_decay_on: str = "weights"
    momentum: float = 0.0
    scheduler: str = "cosine"
    lr_step_size: int = 30
    lr_gamma: float = 0.5

    def check(self) -> OptimOptions:
        """Raise ConfigError naming the option for a value no torch optimiser/scheduler would take; return self."""
        _one_of("optimizer", self.optimizer, OPTIMIZERS)
        _one_of("scheduler", self.scheduler, SCHEDULERS)
        _one_of("weight_decay_on", self.weight_decay_on, DECAY_ON)
        if not self.lr > 0:
            raise ConfigError(f"--model.lr {self.lr}: expected a learning rate > 0")
        if not self.weight_decay >= 0:
            raise ConfigError(f"--model.weight_decay {self.weight_decay}: expected >= 0 (0 = no decay)")
        if not self.momentum >= 0:
            raise ConfigError(f"--model.momentum {self.momentum}: expected >= 0")
        if self.momentum and self.optimizer != "sgd":
            raise ConfigError(f"--model.momentum {self.momentum} is SGD's momentum, but --model.optimizer is "
                              f"{self.optimizer}: give --model.optimizer sgd, or leave --model.momentum at 0")
        if isinstance(self.lr_step_size, bool) or not isinstance(self.lr_step_size, int) or self.lr_step_size < 1:
            raise ConfigError(f"--model.lr_step_size {self.lr_step_size!r}: expected a whole number of epochs >= 1")
        if not self.lr_gamma > 0:
            raise ConfigError(f"--model.lr_gamma {self.lr_gamma}: expected a factor > 0 (e.g. 0.5 halves the lr)")
        return self


OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(OptimOptions))  # = the module's --model.* names


def _one_of(option: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"--model.{option} {value!r}: expected one of {list(allowed)}")


def parameter_groups(named: Iterable[tuple[str, torch.nn.Parameter]], weight_decay: float,
                     weight_decay_on: str = "weights") -> list[dict[str, Any]]:
    """Two groups of the trainable parameters, in their given order: [decayed (weight_decay), not decayed (0)].

    `weights`: a parameter is decayed when it has more than one dimension; `all`: every one is. The text head's
    `logit_scale` (a learned temperature, not a weight) is never decayed.
    """
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, p in named:
        if not p.requires_grad:
            continue
        exempt = name.endswith("logit_scale") or (weight_decay_on == "weights" and p.ndim <= 1)
        (no_decay if exempt else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(named: Iterable[tuple[str, torch.nn.Parameter]], options: OptimOptions) -> torch.optim.Optimizer:
    """The torch optimiser of `options` over `named` (e.g. module.named_parameters()), decay per parameter_groups."""
    groups = parameter_groups(named, options.weight_decay, options.weight_decay_on)
    if options.optimizer == "adamw":  # decoupled decay
        return torch.optim.AdamW(groups, lr=options.lr)
    if options.optimizer == "adam":  # coupled: λ·w joins the gradient
        return torch.optim.Adam(groups, lr=options.lr)
    if options.optimizer == "nadam":  # coupled (decoupled_weight_decay=False, torch's default)
        return torch.optim.NAdam(groups, lr=options.lr)
    if options.optimizer == "sgd":  # coupled
        return torch.optim.SGD(groups, lr=options.lr, momentum=options.momentum)
    raise ConfigError(f"--model.optimizer {options.optimizer!r}: expected one of {list(OPTIMIZERS)}")


def build_scheduler(optimizer: torch.optim.Optimizer, options: OptimOptions,
                    max_epochs: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The per-epoch schedule of `options` (None for `none`); cosine anneals to 0 over max(1, max_epochs) epochs."""
    if options.scheduler == "none":
        return None
    if options.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=options.lr_step_size, gamma=options.lr_gamma)
    if options.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, max_epochs))
    raise ConfigError(f"--model.scheduler {options.scheduler!r}: expected one of {list(SCHEDULERS)}")
