"""`--threads` (issue 15.6): a property of the run, applied whoever starts it, recorded, part of the fingerprint."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from mmlgnet.cli import main, run
from mmlgnet.repro.fingerprint import SENTINEL_SEED, Fingerprinter
from mmlgnet.repro.plan import VARIANTS, RunOptions, plan_settings, run_args
from mmlgnet.training import runtime

REPO = Path(__file__).resolve().parents[2]
DEBUG = ["--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs/overlays/debug.yaml"),
         "--data.synthetic_height", "24", "--data.synthetic_width", "32"]


def test_threads_are_applied_during_the_run_recorded_and_restored_after(tmp_path, monkeypatch):
    """The run computes with its --threads (not the caller's count, not OMP_NUM_THREADS); test_metrics.json
    records it with the device and torch build; afterwards the caller's thread count and environment are back."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    seen: list[tuple[int, str | None]] = []
    original = runtime.apply_threads

    def spy(threads):
        n = original(threads)
        seen.append((torch.get_num_threads(), os.environ.get("MKL_NUM_THREADS")))
        return n

    monkeypatch.setattr("mmlgnet.cli.apply_threads", spy)
    try:
        for threads, save in ((["--threads", "3"], "three"), ([], "default")):
            main(["fit", *DEBUG, "--trainer.logger.init_args.save_dir", str(tmp_path / save), *threads])
            env = json.loads(next((tmp_path / save).rglob("test_metrics.json")).read_text())["environment"]
            expected = 3 if threads else runtime.DEFAULT_THREADS
            assert env["threads"] == expected and seen[-1] == (expected, str(expected))
            assert env["device"] == f"cpu: {runtime.cpu_model()}" and env["torch"] == str(torch.__version__)
            assert {"cpu_capability", "cuda", "cudnn", "deterministic_algorithms"} <= env.keys()
            assert torch.get_num_threads() == 2  # the caller's
            assert os.environ["OMP_NUM_THREADS"] == "5" and "MKL_NUM_THREADS" not in os.environ
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_threads_must_be_a_positive_integer(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as e:
        run(["fit", *DEBUG, "--trainer.logger.init_args.save_dir", str(tmp_path), "--threads", value])
    assert e.value.code == 2 and 'Parser key "threads"' in capsys.readouterr().err  # a positive integer
    assert not list(tmp_path.rglob("test_metrics.json"))


def test_the_fingerprint_holds_the_thread_count_and_the_numeric_builds(tmp_path):
    """The thread count is in the fingerprint (another --threads is another run); so are the builds that can
    change numbers (torch's CUDA, cuDNN, CUDA libraries, numpy, scipy), but not the device, which each run records."""
    quick = plan_settings([], [], True, REPO / "configs")[0]

    def fingerprint(*extra: str):
        options = RunOptions(tmp_path / "results", tmp_path / "data", extra=extra, quick=True)
        return Fingerprinter()(run_args(quick, VARIANTS["lidar_only"], SENTINEL_SEED, options, maps=False))

    base = fingerprint()
    assert base.threads == base.payload["config"]["threads"] == runtime.DEFAULT_THREADS
    assert fingerprint("--threads", "2") != base and fingerprint("--threads", "2").threads == 2
    build = base.payload["build"]
    assert build["torch_cuda"] == torch.version.cuda and build["cudnn"] == runtime.cudnn_version()
    assert {"cuda_libraries", "numpy", "scipy"} <= build.keys()
    assert runtime.cpu_model() not in json.dumps(base.payload)
