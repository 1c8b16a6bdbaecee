"""The removed options clip_model / clip_pretrained fail with a message naming text_model / text_pretrained."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mmlgnet.errors import ConfigError
from mmlgnet.training.module import MMLGNetModule

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("old,new,value", [("clip_model", "text_model", "mmlgnet-tiny"),
                                           ("clip_pretrained", "text_pretrained", None)])
def test_old_name_is_a_config_error_naming_the_new_one(old, new, value):
    with pytest.raises(ConfigError, match=rf"--model\.{old} -> --model\.{new}"):
        MMLGNetModule(num_classes=2, head="linear", **{old: value})


def test_new_names_are_saved_and_old_ones_are_not():
    m = MMLGNetModule(num_classes=2, class_names=["a", "b"], hsi_widths=(8,), lidar_widths=(8,), fusion_dim=8,
                      text_model="mmlgnet-tiny", text_pretrained=None)
    assert m.hparams["text_model"] == "mmlgnet-tiny" and m.hparams["text_pretrained"] is None
    assert m.hparams["text_encoder"] == "open_clip"
    assert "clip_model" not in m.hparams and "clip_pretrained" not in m.hparams


@pytest.mark.slow  # a fresh `python -m mmlgnet` process (the in-process tests check the same error): `make test-all` only
def test_cli_old_name_exits_2_with_one_line(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "mmlgnet", "fit", "--config", str(REPO / "configs" / "demo.yaml"),
         "--config", str(REPO / "configs" / "overlays" / "debug.yaml"), "--model.clip_pretrained", "null",
         "--trainer.logger.init_args.save_dir", str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert out.returncode == 2, out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --model.clip_pretrained") and "--model.text_pretrained" in last


def test_checkpoint_written_before_the_rename_is_refused_naming_the_new_options(tmp_path):
    """An old checkpoint's hyperparameters still say clip_model/clip_pretrained: LightningCLI feeds them to
    the model, which refuses them with the rename (not a bare 'unexpected key')."""
    import torch

    from mmlgnet.cli import main

    ckpt = tmp_path / "old.ckpt"
    torch.save({"state_dict": {}, "global_step": 3, "epoch": 1, "pytorch-lightning_version": "2.4.0",
                "hyper_parameters": {"clip_model": "mmlgnet-tiny", "clip_pretrained": None, "head": "text"}}, ckpt)
    base = ["--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs" / "overlays" / "debug.yaml")]
    with pytest.raises(ConfigError, match=r"--model\.clip_model -> --model\.text_model.*checkpoint written before"):
        main(["test", *base, "--ckpt_path", str(ckpt), "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")])
