"""The CLI never records an untrained model, reads only sound checkpoints and refuses options a checkpoint contradicts."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pytest
import torch

from mmlgnet.cli import main
from mmlgnet.data.datamodule import HSILidarDataModule
from mmlgnet.errors import CheckpointError, UntrainedModelError
from mmlgnet.training.module import MMLGNetModule

REPO = Path(__file__).resolve().parents[1]
BASE = ["--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs" / "overlays" / "debug.yaml"),
        "--data.synthetic_height", "24", "--data.synthetic_width", "40", "--data.synthetic_classes", "4",
        "--data.split", "per_class:10", "--data.eval_batch_size", "128"]


def _strict(path: Path) -> dict:
    def refuse(name: str) -> None:
        raise AssertionError(f"{path.name} holds the non-JSON constant {name}")

    return json.loads(path.read_text(), parse_constant=refuse)


def _results(root: Path) -> list[Path]:
    return [*root.rglob("test_metrics.json"), *root.rglob("prediction.npy"), *root.rglob("maps.json")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """last.ckpt of a short fit of the tiny model (3 training steps)."""
    runs = tmp_path_factory.mktemp("trained") / "runs"
    with pytest.MonkeyPatch.context() as mp:  # same session-wide text cache as conftest's autouse fixture
        mp.setenv("MMLGNET_CACHE", str(tmp_path_factory.getbasetemp() / "mmlgnet-cache"))
        main(["fit", *BASE, "--trainer.logger.init_args.save_dir", str(runs)])
    return next(runs.rglob("last.ckpt"))


def _run(sub: str, tmp_path: Path, *extra: str) -> Path:
    runs = tmp_path / "runs"
    main([sub, *BASE, "--trainer.logger.init_args.save_dir", str(runs), *extra])
    return runs


# ---- item 3: nothing untrained is recorded ----
@pytest.mark.parametrize("sub", ["test", "predict"])
def test_test_or_predict_without_checkpoint_is_refused(tmp_path, sub):
    with pytest.raises(UntrainedModelError, match=rf"{sub} needs --ckpt_path.*--allow_untrained true"):
        _run(sub, tmp_path)
    assert not _results(tmp_path)


@pytest.mark.parametrize("no_training", [["--trainer.max_epochs", "0"], ["--trainer.limit_train_batches", "0"]],
                         ids=["max_epochs_0", "no_training_batches"])
def test_fit_without_a_training_step_is_refused_before_test_and_maps(tmp_path, no_training):
    with pytest.raises(UntrainedModelError, match="fit took no training step"):
        _run("fit", tmp_path, *no_training, "--test_after_fit", "true", "--predict_after_fit", "true")
    assert not _results(tmp_path)


def test_checkpoint_saved_before_any_step_is_untrained(tmp_path, trained):
    ckpt = torch.load(trained, weights_only=True)
    ckpt["global_step"], ckpt["epoch"] = 0, 0
    zero = tmp_path / "step0.ckpt"
    torch.save(ckpt, zero)
    with pytest.raises(UntrainedModelError, match=r"step0\.ckpt was saved before any training step \(global_step 0\)"):
        _run("test", tmp_path, "--ckpt_path", str(zero))
    assert not _results(tmp_path)


def test_module_refuses_untrained_weights_outside_the_cli(tmp_path):
    """The module's own guard (Python API, no CLI): trainer.test on fresh weights raises before writing."""
    dm = HSILidarDataModule(scene="synthetic", synthetic_height=24, synthetic_width=40, synthetic_classes=4,
                            split="per_class:10", patch_size=5, eval_batch_size=128)
    model = MMLGNetModule(num_classes=4, class_names=dm.class_names, hsi_channels=dm.hsi_channels,
                          hsi_widths=(8,), lidar_widths=(8,), fusion_dim=16, text_model="mmlgnet-tiny",
                          text_pretrained=None)
    trainer = L.Trainer(accelerator="cpu", logger=False, default_root_dir=tmp_path, enable_progress_bar=False,
                        enable_model_summary=False)
    with pytest.raises(UntrainedModelError, match="no training step ran"):
        trainer.test(model, datamodule=dm)
    with pytest.raises(UntrainedModelError):
        trainer.predict(model, datamodule=dm, return_predictions=False)
    assert not _results(tmp_path)


def test_allow_untrained_runs_and_is_recorded(tmp_path):
    runs = _run("test", tmp_path, "--allow_untrained", "true")
    rec = _strict(next(runs.rglob("test_metrics.json")))
    assert rec["allow_untrained"] is True and rec["trained"] == {"global_step": 0, "epochs": 0}
    out = tmp_path / "maps"
    _run("predict", tmp_path, "--allow_untrained", "true", "--predict_writer.output_dir", str(out))
    summary = _strict(out / "maps.json")
    assert summary["allow_untrained"] is True and summary["trained"] == {"global_step": 0, "epochs": 0}


def test_allow_untrained_fit_without_steps_tests_and_records_it(tmp_path):
    runs = _run("fit", tmp_path, "--trainer.max_epochs", "0", "--allow_untrained", "true", "--test_after_fit", "true")
    rec = _strict(next(runs.rglob("test_metrics.json")))
    assert rec["allow_untrained"] is True and rec["trained"]["global_step"] == 0


def test_trained_block_records_the_tested_checkpoint(tmp_path, trained):
    saved = torch.load(trained, weights_only=True)
    runs = _run("test", tmp_path, "--ckpt_path", str(trained))
    rec = _strict(next(runs.rglob("test_metrics.json")))
    assert rec["allow_untrained"] is False and rec["checkpoint"] == str(trained)
    assert rec["trained"] == {"global_step": saved["global_step"], "epochs": saved["epoch"]}
    assert rec["trained"]["global_step"] > 0 and rec["trained"]["epochs"] == 1


# ---- item 5 (checkpoint part): unreadable checkpoints name the file ----
def test_truncated_checkpoint_is_a_checkpoint_error(tmp_path, trained):
    half = tmp_path / "half.ckpt"
    data = trained.read_bytes()
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"half\.ckpt .*is not a readable Lightning checkpoint"):
        _run("test", tmp_path, "--ckpt_path", str(half))


# ---- item 7: given model options vs the checkpoint's hyperparameters ----
def test_command_line_model_option_contradicting_checkpoint_is_refused(tmp_path, trained):
    with pytest.raises(CheckpointError) as info:
        _run("test", tmp_path, "--ckpt_path", str(trained), "--model.modalities", "[lidar]", "--model.fusion", "gated")
    msg = str(info.value)
    assert "--model.modalities: checkpoint ['hsi', 'lidar'] vs given ['lidar']" in msg
    assert "--model.fusion: checkpoint 'concat' vs given 'gated'" in msg
    assert not _results(tmp_path)


def test_config_file_model_option_contradicting_checkpoint_is_refused(tmp_path, trained):
    overlay = tmp_path / "v2t.yaml"
    overlay.write_text("model:\n  loss: v2t\n")
    with pytest.raises(CheckpointError, match=r"--model\.loss: checkpoint 'symmetric' vs given 'v2t'"):
        _run("test", tmp_path, "--config", str(overlay), "--ckpt_path", str(trained))


def test_optimisation_options_may_differ(tmp_path, trained):
    runs = _run("test", tmp_path, "--ckpt_path", str(trained), "--model.lr", "0.5", "--model.scheduler", "none")
    assert next(runs.rglob("test_metrics.json")).is_file()


def test_checkpoint_of_other_classes_is_refused(tmp_path, trained):
    # caught by the checkpoint's training-data state (mmlgnet.data.transfer) before the weights load: both class lists
    with pytest.raises(CheckpointError, match=r"(?s)class lists differ.*trained \['grass', 'trees', 'asphalt road', "
                       r"'building'\]\n  given +\[.*'bare soil'\]"):
        _run("test", tmp_path, "--ckpt_path", str(trained), "--data.synthetic_classes", "5")
    assert not _results(tmp_path)


# ---- item 9 (module side): strict JSON when a class has no test pixel ----
def test_test_metrics_are_strict_json_with_a_class_without_test_pixels(tmp_path, trained):
    runs = _run("test", tmp_path, "--ckpt_path", str(trained), "--data.eval_batch_size", "4",
                "--trainer.limit_test_batches", "2")
    rec = _strict(next(runs.rglob("test_metrics.json")))
    empty = [n for i, n in enumerate(rec["per_class_accuracy"]) if sum(rec["confusion_matrix"][i]) == 0]
    assert empty, "the scenario needs a class without test pixels"
    assert all(rec["per_class_accuracy"][n] is None for n in empty)
    assert all(isinstance(v, float) for n, v in rec["per_class_accuracy"].items() if n not in empty)
