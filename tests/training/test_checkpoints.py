"""Checkpoint checks without the CLI: unreadable files name the path, option differences are listed."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from mmlgnet.console import error_message, find_user_error
from mmlgnet.errors import CheckpointError, ConfigError, UntrainedModelError, is_int
from mmlgnet.training import checkpoints


@pytest.fixture
def good_ckpt(tmp_path):
    path = tmp_path / "good.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(64, 64)}, "global_step": 7, "epoch": 2,
                "hyper_parameters": {"modalities": ["hsi", "lidar"], "loss": "symmetric", "lr": 0.001}}, path)
    return path


def _broken(kind, tmp_path, good):
    path = tmp_path / f"{kind}.ckpt"
    data = good.read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "half":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "random":
        path.write_bytes(os.urandom(4096))
    elif kind == "directory":
        path.mkdir()
    elif kind == "not_a_checkpoint":
        torch.save(torch.zeros(3), path)
    return path


@pytest.mark.parametrize("kind", ["empty", "half", "random", "directory", "missing", "not_a_checkpoint"])
def test_unreadable_checkpoint_names_the_file(tmp_path, good_ckpt, kind):
    path = _broken(kind, tmp_path, good_ckpt)
    with pytest.raises(CheckpointError) as info:
        checkpoints.read_checkpoint(path)
    msg = str(info.value)
    assert str(path) in msg and "--ckpt_path" in msg and "last.ckpt" in msg, msg  # names file and the fix
    expected = {"empty": "empty (0 bytes)", "half": "not a readable Lightning checkpoint",
                "random": "not a readable Lightning checkpoint", "directory": "is a directory",
                "missing": "no such file", "not_a_checkpoint": "not a Lightning checkpoint"}[kind]
    assert expected in msg, msg


def test_readable_checkpoint_and_trained_state(good_ckpt):
    ckpt = checkpoints.read_checkpoint(good_ckpt)
    assert checkpoints.trained_state(ckpt) == {"global_step": 7, "epochs": 2}
    assert checkpoints.trained_state({}) == {"global_step": 0, "epochs": 0}


def test_option_differences_listed_exempt_and_unknown_skipped():
    saved = {"modalities": ["hsi", "lidar"], "loss": "symmetric", "lr": 0.001, "num_classes": 6, "hsi_widths": [8, 16]}
    given = {"modalities": ("lidar",), "loss": "symmetric", "lr": 0.5, "num_classes": 3, "hsi_widths": (8, 16),
             "new_option": 1}
    lines = checkpoints.option_differences(given, saved)
    assert lines == ["  --model.modalities: checkpoint ['hsi', 'lidar'] vs given ['lidar']"]
    with pytest.raises(CheckpointError, match=r"(?s)x\.ckpt.*--model\.modalities: checkpoint \['hsi', 'lidar'\] vs given"):
        checkpoints.check_options("x.ckpt", given, saved)
    checkpoints.check_options("x.ckpt", {"lr": 1.0, "scheduler": "none"}, saved)  # optimisation options: exempt


def test_lightning_keywords_pass_through(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert checkpoints.is_lightning_keyword("last") and checkpoints.is_lightning_keyword("best")
    (tmp_path / "last").write_bytes(b"")
    assert not checkpoints.is_lightning_keyword("last")  # a file of that name is a file
    assert not checkpoints.is_lightning_keyword("model.ckpt")


def test_user_error_found_behind_wrappers():
    inner = ConfigError("--data.x 3: expected y")
    try:
        try:
            raise inner
        except ConfigError as e:
            raise RuntimeError("instantiation failed") from e
    except RuntimeError as outer:
        assert find_user_error(outer) is inner
    try:
        try:
            raise inner
        except ConfigError:
            raise TypeError("while handling")  # noqa: B904 (implicit __context__ on purpose)
    except TypeError as outer:
        assert find_user_error(outer) is inner
    assert find_user_error(RuntimeError("not ours")) is None


def test_error_message_of_a_key_error_subclass_has_no_quotes():
    class MyKeyError(ConfigError, KeyError):
        pass

    assert error_message(MyKeyError("file.mat: no key 'x'")) == "file.mat: no key 'x'"


def test_one_untrained_message_for_the_cli_and_the_module():
    """checkpoints.untrained_error words every refusal of an untrained test/predict (was three copies: two in the
    CLI, one in MMLGNetModule.require_trained); the CLI guard tests match both of its cases."""
    none = str(checkpoints.untrained_error("test"))
    assert "test needs --ckpt_path" in none and "no training step ran" in none
    assert none.endswith(f"or {checkpoints.ALLOW_UNTRAINED}.")
    zero = str(checkpoints.untrained_error("predict", "/r/step0.ckpt"))
    assert "--ckpt_path /r/step0.ckpt was saved before any training step (global_step 0): its predict" in zero
    assert isinstance(checkpoints.untrained_error("test"), UntrainedModelError)


@pytest.mark.parametrize(("value", "ok"), [(3, True), (np.int64(3), True), (True, False), (3.0, False), ("3", False)])
def test_one_strict_integer_rule(value, ok):
    """errors.is_int is the rule of the data options, the patch size, band numbers, palettes and the done-check
    (were patches._is_int, data_options._check_int and inline copies)."""
    from mmlgnet.data.sampling.patches import check_patch_size

    assert is_int(value) is ok
    if ok:
        assert check_patch_size(value) == 3
    else:
        with pytest.raises(ConfigError, match="expected a positive odd integer"):
            check_patch_size(value)  # type: ignore[arg-type]


def test_a_ckpt_path_is_read_once_per_command(tmp_path, monkeypatch):
    """Before: read by our guards (read_checkpoint), by LightningCLI's hyperparameter parse and by the Trainer's
    restore: 3 torch.load calls of the file for one `test --ckpt_path`. Now the guards' dict is handed on."""
    from pathlib import Path

    from mmlgnet.cli import main

    repo = Path(__file__).resolve().parents[2]
    base = ["--config", str(repo / "configs" / "demo.yaml"), "--config", str(repo / "configs" / "overlays" / "debug.yaml"),
            "--data.synthetic_height", "24", "--data.synthetic_width", "40", "--data.synthetic_classes", "4",
            "--data.split", "per_class:10", "--data.eval_batch_size", "128"]
    main(["fit", *base, "--trainer.logger.init_args.save_dir", str(tmp_path / "fit")])
    ckpt = next((tmp_path / "fit").rglob("last.ckpt")).resolve()
    loads = []
    real = torch.load

    def counting(f, *args, **kwargs):
        name = f if isinstance(f, (str, os.PathLike)) else getattr(f, "path", None) or getattr(f, "name", None)
        if isinstance(name, (str, os.PathLike)) and Path(name).resolve() == ckpt:  # a path, or an open file (Lightning)
            loads.append(Path(name).name)
        return real(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counting)
    main(["test", *base, "--trainer.logger.init_args.save_dir", str(tmp_path / "test"), "--ckpt_path", str(ckpt)])
    assert loads == ["last.ckpt"]
    metrics = next((tmp_path / "test").rglob("test_metrics.json"))
    assert checkpoints.trained_state(torch.load(ckpt, weights_only=True)) == {
        k: v for k, v in json.loads(metrics.read_text())["trained"].items() if k in ("global_step", "epochs")}
