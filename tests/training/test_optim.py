"""The optimiser options (mmlgnet.training.optim): each kind is its torch optimiser with the options given, decay only
where the rule says, coupled vs decoupled decay as the maths says, the step schedule per epoch, and the defaults
exactly the package's previous AdamW + cosine."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from mmlgnet.errors import ConfigError
from mmlgnet.training import checkpoints
from mmlgnet.training.module import MMLGNetModule
from mmlgnet.training.optim import OptimOptions, build_optimizer, build_scheduler, parameter_groups

REPO = Path(__file__).resolve().parents[2]


class _Net(nn.Module):
    """Conv kernel (4-D), linear matrix (2-D), token (3-D), biases and BN (1-D), a text head's logit_scale (0-D)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.bn = nn.BatchNorm2d(3)
        self.fc = nn.Linear(3, 4)
        self.token = nn.Parameter(torch.zeros(1, 2, 3))
        self.logit_scale = nn.Parameter(torch.tensor(1.0))
        self.frozen = nn.Parameter(torch.ones(2, 2), requires_grad=False)


def _ids(params: list[nn.Parameter]) -> set[int]:
    return {id(p) for p in params}


@pytest.mark.parametrize(("kind", "cls"), [("adamw", torch.optim.AdamW), ("adam", torch.optim.Adam),
                                           ("nadam", torch.optim.NAdam), ("sgd", torch.optim.SGD)])
def test_each_kind_is_its_torch_optimiser_with_decay_on_weights_only(kind, cls):
    net = _Net()
    momentum = 0.7 if kind == "sgd" else 0.0
    opt = build_optimizer(net.named_parameters(), OptimOptions(kind, lr=0.03, weight_decay=0.02, momentum=momentum))
    assert type(opt) is cls
    decay, no_decay = opt.param_groups
    assert _ids(decay["params"]) == _ids([net.conv.weight, net.fc.weight, net.token])  # > 1-D only
    assert _ids(no_decay["params"]) == _ids([net.conv.bias, net.bn.weight, net.bn.bias, net.fc.bias, net.logit_scale])
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.02, 0.0)
    for group in opt.param_groups:
        assert group["lr"] == 0.03
        if kind == "sgd":
            assert group["momentum"] == 0.7 and group["dampening"] == 0 and not group["nesterov"]
        else:
            assert group["betas"] == (0.9, 0.999) and group["eps"] == 1e-8
        if kind == "nadam":
            assert group["decoupled_weight_decay"] is False and group["momentum_decay"] == 4e-3


def test_decay_on_all_parameters_but_logit_scale():
    net = _Net()
    decay, no_decay = parameter_groups(net.named_parameters(), 0.005, "all")
    assert _ids(no_decay["params"]) == _ids([net.logit_scale])
    assert _ids(decay["params"]) == _ids([p for n, p in net.named_parameters() if n not in ("logit_scale", "frozen")])


def _one_param_steps(kind: str, weight_decay: float, l2: float, steps: int = 3) -> float:
    """w = 1 (a 1×1 matrix), loss = 3·w + l2·w²; `steps` steps of `kind` at lr 0.1; returns w."""
    w = nn.Parameter(torch.ones(1, 1))
    opt = build_optimizer([("w", w)], OptimOptions(kind, lr=0.1, weight_decay=weight_decay))
    for _ in range(steps):
        opt.zero_grad()
        (3 * w + l2 * w**2).sum().backward()
        opt.step()
    return float(w.detach())


@pytest.mark.parametrize("kind", ["adam", "nadam", "sgd"])
def test_coupled_decay_is_the_gradient_of_an_l2_term(kind):
    """adam/nadam/sgd: weight_decay 2c gives exactly the steps of c·w² in the loss (Keras l2(c))."""
    c = 0.25
    assert _one_param_steps(kind, 2 * c, 0.0) == pytest.approx(_one_param_steps(kind, 0.0, c), rel=1e-6)


def test_sgd_one_step_and_adamw_decoupled_one_step():
    # SGD: w ← w − lr·(g + λw) = 1 − 0.1·(3 + 0.5)
    assert _one_param_steps("sgd", 0.5, 0.0, steps=1) == pytest.approx(0.65)
    # AdamW: w ← w·(1 − lr·λ) − lr·g/(|g| + eps) = 0.95 − 0.1 (the Adam step of g = 3 alone: first step, m̂/√v̂ = 1)
    assert _one_param_steps("adamw", 0.5, 0.0, steps=1) == pytest.approx(0.85, abs=1e-6)
    # Adam (coupled): g' = 3 + 0.5 = 3.5 goes through the adaptive step: 1 − 0.1·g'/|g'| = 0.9
    assert _one_param_steps("adam", 0.5, 0.0, steps=1) == pytest.approx(0.9, abs=1e-6)


def test_step_schedule_multiplies_the_lr_every_step_size_epochs():
    opt = build_optimizer(_Net().named_parameters(), OptimOptions("adam", lr=1e-3))
    sched = build_scheduler(opt, OptimOptions("adam", lr=1e-3, scheduler="step", lr_step_size=30, lr_gamma=0.5), 150)
    assert isinstance(sched, torch.optim.lr_scheduler.StepLR)
    lrs = []
    for _ in range(150):  # one scheduler step per epoch, as Lightning's interval "epoch"
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == lrs[29] == 1e-3 and lrs[30] == pytest.approx(5e-4) and lrs[59] == pytest.approx(5e-4)
    assert lrs[120] == lrs[149] == pytest.approx(1e-3 / 16)  # EndNet/MDL-RS: 0.0000625 from epoch 120
    assert build_scheduler(opt, OptimOptions(scheduler="none"), 10) is None


def test_defaults_are_the_previous_adamw_and_cosine():
    """The previous configure_optimizers, restated: AdamW(lr) over [>1-D not logit_scale: wd, rest: 0], cosine."""
    module = MMLGNetModule(num_classes=3, hsi_channels=4, lidar_channels=1, head="linear", hsi_widths=(4,),
                           lidar_widths=(4,), fusion_dim=8, embed_dim=8)
    module._trainer = SimpleNamespace(max_epochs=7)  # configure_optimizers reads it
    config = module.configure_optimizers()
    decay = [p for n, p in module.named_parameters() if p.ndim > 1 and not n.endswith("logit_scale")]
    rest = [p for n, p in module.named_parameters() if p.ndim <= 1 or n.endswith("logit_scale")]
    before = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-4}, {"params": rest, "weight_decay": 0.0}], lr=1e-3)
    torch.optim.lr_scheduler.CosineAnnealingLR(before, T_max=7)  # sets each group's initial_lr, as ours did
    opt, sched = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert type(opt) is torch.optim.AdamW and config["lr_scheduler"]["interval"] == "epoch"
    assert opt.defaults == before.defaults and len(opt.param_groups) == 2
    for mine, theirs in zip(opt.param_groups, before.param_groups, strict=True):
        assert [id(p) for p in mine["params"]] == [id(p) for p in theirs["params"]]
        assert {k: v for k, v in mine.items() if k != "params"} == {k: v for k, v in theirs.items() if k != "params"}
    assert isinstance(sched, torch.optim.lr_scheduler.CosineAnnealingLR) and sched.T_max == 7


@pytest.mark.parametrize(("options", "names"), [
    ({"optimizer": "rmsprop"}, "--model.optimizer"), ({"scheduler": "linear"}, "--model.scheduler"),
    ({"momentum": 0.9}, "--model.momentum"), ({"optimizer": "sgd", "momentum": -1.0}, "--model.momentum"),
    ({"lr_step_size": 0}, "--model.lr_step_size"), ({"lr_gamma": 0.0}, "--model.lr_gamma"),
    ({"weight_decay": -0.1}, "--model.weight_decay"), ({"weight_decay_on": "biases"}, "--model.weight_decay_on"),
    ({"lr": 0.0}, "--model.lr"), ({"augment": "mixup"}, "--model.augment"),
])
def test_impossible_options_are_one_config_error_naming_the_option(options, names):
    with pytest.raises(ConfigError, match=names):
        MMLGNetModule(num_classes=3, hsi_channels=4, head="linear", hsi_widths=(4,), lidar_widths=(4,),
                      fusion_dim=8, embed_dim=8, **options)


def test_optimisation_options_may_differ_from_the_checkpoint():
    saved = {"optimizer": "adamw", "momentum": 0.0, "weight_decay_on": "weights", "lr_step_size": 30,
             "lr_gamma": 0.5, "augment": "none", "scheduler": "cosine"}
    given = {"optimizer": "sgd", "momentum": 0.9, "weight_decay_on": "all", "lr_step_size": 5, "lr_gamma": 0.1,
             "augment": "dihedral", "scheduler": "step"}
    checkpoints.check_options("x.ckpt", given, saved)  # no CheckpointError: they do not change tested weights


def test_cli_fit_steps_the_schedule_once_per_epoch(tmp_path):
    """A real fit (demo + debug overlay, 3 epochs) with sgd + step(1, 0.5): the lr logged per epoch halves."""
    from mmlgnet.cli import main

    main(["fit", "--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs/overlays/debug.yaml"),
          "--trainer.logger.init_args.save_dir", str(tmp_path), "--trainer.max_epochs", "3",
          "--trainer.callbacks+=lightning.pytorch.callbacks.LearningRateMonitor",
          "--trainer.callbacks.logging_interval", "epoch", "--test_after_fit", "false",
          "--model.optimizer", "sgd", "--model.momentum", "0.9", "--model.lr", "0.01", "--model.scheduler", "step",
          "--model.lr_step_size", "1", "--model.lr_gamma", "0.5", "--model.augment", "dihedral"])
    rows = (next(tmp_path.rglob("metrics.csv"))).read_text().splitlines()
    header = rows[0].split(",")
    col = next(i for i, h in enumerate(header) if h.startswith("lr-"))
    lrs = [float(r.split(",")[col]) for r in rows[1:] if r.split(",")[col]]
    assert lrs == pytest.approx([0.01, 0.005, 0.0025])
    hparams = json.dumps((next(tmp_path.rglob("hparams.yaml"))).read_text())
    assert "sgd" in hparams and "dihedral" in hparams


# Each overlay's recipe as its reference states it (the overlay's comments give file and line).
RECIPES: dict[str, dict[str, object]] = {
    "fusatnet": {"optimizer": "nadam", "lr": 2e-5, "weight_decay": 0.02, "weight_decay_on": "weights",
                 "scheduler": "none", "augment": "rot90"},  # Nadam(0.00002), l2(0.01) on kernels, 4 rotations
    "two_branch": {"optimizer": "sgd", "lr": 0.005, "momentum": 1e-6, "weight_decay": 0.0, "scheduler": "none",
                   "augment": "two_branch"},  # SGD(lr=0.005, momentum=1e-6), creat_train's 4 copies
    "endnet": {"optimizer": "adam", "lr": 0.001, "weight_decay": 0.001, "weight_decay_on": "weights",
               "scheduler": "step", "lr_step_size": 30, "lr_gamma": 0.5, "augment": "none"},
    "mdl_middle": {"optimizer": "adam", "lr": 0.001, "weight_decay": 0.001, "weight_decay_on": "weights",
                   "scheduler": "step", "lr_step_size": 30, "lr_gamma": 0.5, "augment": "none"},
    "mft": {"optimizer": "adam", "lr": 5e-4, "weight_decay": 5e-3, "weight_decay_on": "all", "scheduler": "step",
            "lr_step_size": 50, "lr_gamma": 0.9, "augment": "none"},  # Adam(model.parameters(), wd 5e-3), StepLR
    "s2enet": {"optimizer": "adam", "lr": 0.001, "weight_decay": 0.0, "scheduler": "cosine",
               "augment": "flip_or_rot90"},  # Adam(lr), CosineAnnealingLR(T_max=epoch), --flip_augmentation
}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_each_overlay_carries_its_references_recipe(name):
    import yaml

    from mmlgnet.training.augment import KINDS

    path = REPO / "mmlgnet" / "configs" / "baselines" / f"{name}.yaml"
    model = yaml.safe_load(path.read_text())["model"]
    assert {k: model[k] for k in RECIPES[name]} == RECIPES[name]
    OptimOptions(**{k: model[k] for k in model if k in OptimOptions.__dataclass_fields__}).check()
    assert model["augment"] in KINDS
    todos = [line for line in path.read_text().splitlines() if "TODO" in line]
    assert not [t for t in todos if any(w in t.lower() for w in ("optimi", "schedul", "augment"))]  # all resolved
