"""`python -m mmlgnet` as a user sees it: one-line user errors with exit code 2, tracebacks on demand, no noise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmlgnet import cli
from mmlgnet.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SMALL = ["--config", "configs/demo.yaml", "--config", "configs/overlays/debug.yaml", "--data.synthetic_height", "24",
         "--data.synthetic_width", "40", "--data.synthetic_classes", "4", "--data.split", "per_class:10"]
NOISE = ("💡", "Tip:", "litlogger", "litmodels", "Total length of", "LeafSpec", "configure_callbacks",
         "No pretrained weights loaded", "The dirpath has changed")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "MMLGNET_DEBUG"}
    full_env.update({"HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", **(env or {})})
    return subprocess.run([sys.executable, "-m", "mmlgnet", *args], cwd=REPO, env=full_env, capture_output=True,
                          text=True, timeout=900)  # a hang guard, not a speed check: a debug fit under heavy load on 2 cores


@pytest.fixture(scope="module")
def debug_fit(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """A debug-overlay fit + test through the real CLI, and its run folder."""
    runs = tmp_path_factory.mktemp("console") / "runs"
    out = _cli("fit", *SMALL, "--trainer.logger.init_args.save_dir", str(runs), "--test_after_fit", "true",
               env={"MMLGNET_CACHE": str(tmp_path_factory.getbasetemp() / "mmlgnet-cache")})
    return out, runs


def test_debug_fit_prints_no_noise_and_each_warning_once(debug_fit):
    out, runs = debug_fit
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout + out.stderr
    for noise in NOISE:
        assert noise not in text, (noise, text)
    assert text.count("text tower is randomly initialised") == 1, text  # warnings.warn + log.warning: shown once
    assert next(runs.rglob("test_metrics.json")).is_file()


CASES = {  # name -> (arguments, a phrase of the message)
    "missing_data_file": (["fit", "--config", "configs/trento.yaml", "--config", "configs/overlays/debug.yaml",
                           "--data.root", "{tmp}/nowhere"], "file(s) missing in"),
    "bad_split": (["fit", *SMALL, "--data.split", "bogus:3"], "--data.split 'bogus:3'"),
    "untrained_test": (["test", *SMALL], "test needs --ckpt_path"),
}


# one case in a fresh process in `make test` (bad_split); the others in `make test-all` only (marked slow)
@pytest.mark.parametrize("case", [pytest.param(c, marks=() if c == "bad_split" else pytest.mark.slow) for c in CASES])
def test_user_error_is_one_line_and_exit_code_2(tmp_path, case):
    args, phrase = CASES[case]
    args = [a.format(tmp=tmp_path) for a in args]
    out = _cli(*args, "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"))
    assert out.returncode == 2, out.stderr[-3000:]
    assert "Traceback" not in out.stderr, out.stderr
    assert "error: " in out.stderr and phrase in out.stderr, out.stderr
    assert not list(tmp_path.rglob("test_metrics.json"))


@pytest.mark.slow  # a fresh `python -m mmlgnet` process (the in-process tests check the same debug switch): `make test-all` only
def test_debug_env_shows_the_traceback(tmp_path):
    out = _cli("fit", *SMALL, "--data.split", "bogus:3", "--trainer.logger.init_args.save_dir", str(tmp_path),
               env={"MMLGNET_DEBUG": "1"})
    assert out.returncode == 1
    assert "Traceback" in out.stderr and "SplitError" in out.stderr and "--data.split 'bogus:3'" in out.stderr


# ---- run() in-process (no interpreter start-up): the same handling, more cases ----
@pytest.fixture
def in_process(monkeypatch):
    monkeypatch.setattr(cli.console, "configure_console", lambda: None)  # leave pytest's logging/warnings alone
    monkeypatch.delenv("MMLGNET_DEBUG", raising=False)
    return monkeypatch


def test_run_checkpoint_error_exit_code_2(tmp_path, in_process, capsys, debug_fit):
    ckpt = next(debug_fit[1].rglob("last.ckpt"))
    half = tmp_path / "half.ckpt"
    half.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    with pytest.raises(SystemExit) as info:
        cli.run(["test", *SMALL, "--ckpt_path", str(half), "--trainer.logger.init_args.save_dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith(f"error: --ckpt_path {half}") and "Traceback" not in err, err


def test_run_error_raised_while_instantiating_a_class(tmp_path, in_process, capsys):
    with pytest.raises(SystemExit) as info:  # ConfigError from HSILidarDataModule.__init__ under jsonargparse
        cli.run(["fit", *SMALL, "--data.patch_size", "4", "--trainer.logger.init_args.save_dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith("error: --data.patch_size 4") and "Traceback" not in err, err


def test_run_finds_a_wrapped_user_error(in_process, capsys):
    def wrapped(args):
        try:
            raise ConfigError("--model.x 1: expected 2")
        except ConfigError as e:
            raise RuntimeError("jsonargparse: problem instantiating the class") from e

    in_process.setattr(cli, "main", wrapped)
    with pytest.raises(SystemExit) as info:
        cli.run([])
    assert info.value.code == 2 and capsys.readouterr().err == "error: --model.x 1: expected 2\n"


def test_run_reraises_other_errors_and_user_errors_in_debug_mode(in_process):
    def broken(args):
        raise ZeroDivisionError("a bug, not a user error")

    in_process.setattr(cli, "main", broken)
    with pytest.raises(ZeroDivisionError):
        cli.run([])
    in_process.setattr(cli, "main", lambda args: (_ for _ in ()).throw(ConfigError("bad")))
    in_process.setenv("MMLGNET_DEBUG", "1")
    with pytest.raises(ConfigError):
        cli.run([])


def test_bad_option_keeps_jsonargparse_usage_and_exit_code_2(in_process, capsys):
    with pytest.raises(SystemExit) as info:
        cli.run(["fit", "--config", str(REPO / "configs" / "demo.yaml"), "--model.loss", "bogus"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "usage:" in err and "Traceback" not in err
