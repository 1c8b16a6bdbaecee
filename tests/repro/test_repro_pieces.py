"""The pieces of reproduce, one by one: the done-check, the registry's clean-up rules, fingerprints, the lock."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

import mmlgnet
from mmlgnet.errors import ConfigError, UserError
from mmlgnet.repro.checks import metrics_problems
from mmlgnet.repro.fingerprint import SEED_PLACEHOLDER, SENTINEL_SEED, Fingerprint, Fingerprinter, normalise
from mmlgnet.repro.lock import ResultsBusyError, ResultsLock
from mmlgnet.repro.plan import VARIANTS, Run, RunOptions, Setting, plan_settings, run_args
from mmlgnet.repro.registry import Registry

GOOD = {
    "scene": "synthetic", "OA": 80.0, "AA": 75.0, "kappa": 70.0,
    "per_class_accuracy": {"a": 90.0, "b": None},  # a class without test pixels: null, still a result
    "confusion_matrix": [[9, 1], [0, 0]], "num_test_pixels": 10, "seed": 1,
    "split": {"name": "per_class:20"}, "trained": {"global_step": 12, "epochs": 2},
}


def _write(path: Path, record: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(record if isinstance(record, str) else json.dumps(record))
    return path


def test_done_check_accepts_a_complete_trained_record(tmp_path):
    assert metrics_problems(_write(tmp_path / "m.json", GOOD), "synthetic", "per_class:20", 1) == []


@pytest.mark.parametrize("change, expected", [
    ({"allow_untrained": True}, "allow_untrained"),
    ({"trained": {"global_step": 0, "epochs": 0}}, "global_step is 0"),
    ({"trained": None}, "trained.global_step is None"),
    ({"num_test_pixels": 11}, "num_test_pixels is 11"),
    ({"seed": 0}, "seed is 0"),
    ({"scene": "trento"}, "scene is 'trento'"),
    ({"split": {"name": "standard"}}, "split is 'standard'"),
    ({"OA": None}, "OA is None"),
    ({"kappa": "70"}, "kappa is '70'"),
    ({"confusion_matrix": [[9, 1]]}, "confusion_matrix"),
    ({"confusion_matrix": [[9.5, 1], [0, 0]]}, "confusion_matrix"),
])
def test_done_check_rejects_incomplete_inconsistent_or_untrained(tmp_path, change, expected):
    problems = metrics_problems(_write(tmp_path / "m.json", {**GOOD, **change}), "synthetic", "per_class:20", 1)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("text", [json.dumps(GOOD).replace("80.0", "NaN"), json.dumps(GOOD)[:40], "", "[1, 2]"])
def test_done_check_rejects_non_strict_or_truncated_json(tmp_path, text):
    problems = metrics_problems(_write(tmp_path / "m.json", text), "synthetic", "per_class:20", 1)
    assert len(problems) == 1 and problems[0].startswith(str(tmp_path / "m.json"))
    assert metrics_problems(tmp_path / "missing.json", "synthetic", "per_class:20", 1) == [
        f"{tmp_path / 'missing.json'} is missing"]


def _run(seed: int = 0, fp: str = "a" * 64) -> Run:
    setting = Setting("synthetic-quick", "synthetic", "per_class:20", ())
    return Run(setting, VARIANTS["lidar_only"], seed, False, ("fit",), (), Fingerprint(fp[:12], fp, {"config": {}}))


def test_registry_moves_aside_what_it_did_not_create_and_deletes_only_its_own_attempts(tmp_path):
    results = tmp_path / "r"
    registry = Registry(results)
    run = _run()
    mine = registry.dir(run)
    _write(mine / "notes.txt", "a user's folder, no run.json of ours")
    assert registry.state(run)[0] == "foreign"
    with pytest.raises(RuntimeError, match="without holding the results lock"):
        registry.clear(run, "foreign")
    with ResultsLock(results) as lock:
        registry = Registry(results, lock)
        note = registry.clear(run, "foreign")
        kept = [p for p in mine.parent.iterdir() if p.name.startswith("seed0.foreign-")]
        assert len(kept) == 1 and (kept[0] / "notes.txt").read_text().startswith("a user's") and str(kept[0]) in note
        registry.start(run, "inprocess")  # an attempt of ours, then killed: status stays `running`
        assert registry.state(run)[0] == "attempt"
        assert registry.clear(run, "attempt") == "unfinished attempt removed" and not mine.exists()

        registry.start(run, "inprocess")
        _write(mine / "test_metrics.json", {**GOOD, "seed": 0})
        assert registry.finish(run, "done", 1.0)["status"] == "done" and registry.state(run)[0] == "done"
        assert [f.seed for f in registry.finished()] == [0]
        assert registry.state(_run(fp="b" * 64))[0] == "stale"
        info = json.loads((mine / "run.json").read_text())
        (mine / "run.json").write_text(json.dumps({**info, "code_sha256": "0ther0c0de000"}))
        registry = Registry(results, lock)  # a later invocation (one registry reads each file once)
        assert registry.state(run) == ("done", "made by other package sources (not in the fingerprint; --force reruns)")
        _write(mine / "test_metrics.json", {**GOOD, "seed": 0, "allow_untrained": True})  # edited afterwards
        registry = Registry(results, lock)
        assert registry.state(run)[0] == "invalid"
        registry.clear(run, "invalid")
        assert [p.name.split("-")[0] for p in sorted(mine.parent.iterdir())] == ["seed0.foreign", "seed0.invalid"]
        assert list(registry.finished()) == []  # folders kept aside are never table rows


def test_registry_marks_done_only_after_the_metrics_check(tmp_path):
    with ResultsLock(tmp_path) as lock:
        registry = Registry(tmp_path, lock)
        run = _run()
        registry.start(run, "subprocess")
        info = registry.finish(run, "done", 2.0)  # the CLI said ok, but wrote no test_metrics.json
        assert info["status"] == "failed" and "test_metrics.json is missing" in info["error"]
        _write(registry.dir(run) / "test_metrics.json", {**GOOD, "seed": 0, "trained": {"global_step": 0}})
        assert registry.finish(run, "done", 2.0)["status"] == "failed"


QUICK = plan_settings([], [], True, Path(__file__).resolve().parents[2] / "configs")[0]


def _fingerprint(tmp_path: Path, *extra: str, variant: str = "mmlgnet", **opts: object) -> Fingerprint:
    options = RunOptions(tmp_path / "results", tmp_path / "data", extra=extra, quick=True, **opts)  # type: ignore[arg-type]
    return Fingerprinter()(run_args(QUICK, VARIANTS[variant], SENTINEL_SEED, options, maps=False))


def test_fingerprint_follows_the_resolved_config_and_ignores_log_places(tmp_path, monkeypatch):
    base = _fingerprint(tmp_path)
    assert base.payload["config"]["seed_everything"] == SEED_PLACEHOLDER
    assert base.payload["config"]["data"]["split_seed"] == SEED_PLACEHOLDER
    assert base.max_epochs == 15 and "logger" not in base.payload["config"]["trainer"]
    assert _fingerprint(tmp_path, wandb=True, wandb_project="other") == base  # W&B and log paths: excluded
    assert _fingerprint(tmp_path / "elsewhere") == base
    assert _fingerprint(tmp_path, "--predict_writer.output_dir", "x") == base
    for changed in (("--model.fusion", "gated"), ("--trainer.max_epochs", "3"), ("--trainer.precision", "bf16-mixed"),
                    ("--data.split_seed", "3")):  # a seed fixed by an override stays in the config
        assert _fingerprint(tmp_path, *changed) != base, changed
    assert _fingerprint(tmp_path, variant="lidar_only") != base
    monkeypatch.setattr(mmlgnet, "__version__", "99.0")
    assert _fingerprint(tmp_path) != base


def test_fingerprint_of_a_real_scene_hashes_its_files_once(tmp_path):
    root = tmp_path / "trento"
    _write(root / "LiDAR.mat", "lidar bytes")
    _write(root / ".partial.tmp", "hidden: ignored")
    cfg = {"data": {"scene": "trento", "root": str(root)}, "trainer": {}}
    fingerprinter = Fingerprinter()
    first = fingerprinter.of_config(cfg)
    assert first.payload["data"]["files"]["LiDAR.mat"]["size"] == 11
    assert set(first.payload["data"]["files"]) == {"LiDAR.mat"}
    _write(root / "LiDAR.mat", "lidar bytez")  # same size, other content
    assert fingerprinter.of_config(cfg) == first  # hashed once per invocation (one Fingerprinter)
    assert Fingerprinter().of_config(cfg) != first  # the next invocation sees the change
    moved = {"data": {"scene": "trento", "root": str(tmp_path / "copy")}, "trainer": {}}
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "LiDAR.mat").write_bytes((root / "LiDAR.mat").read_bytes())
    assert Fingerprinter().of_config(moved) == Fingerprinter().of_config(cfg)  # the path itself is not identity


def test_fingerprint_hashes_a_local_weights_file_also_behind_a_preset_name(tmp_path):
    ckpt = _write(tmp_path / "RemoteCLIP-ViT-B-32.pt", "weights v1")
    fp = {v: Fingerprinter().of_config({"data": {"scene": "synthetic"}, "model": {"text_pretrained": v}})
          for v in (f"remoteclip:{ckpt}", str(ckpt), "remoteclip", None)}
    assert fp[f"remoteclip:{ckpt}"].payload["weights"]["model.text_pretrained"]["size"] == 10
    assert fp[str(ckpt)].payload["weights"] and not fp[None].payload["weights"]
    assert fp["remoteclip"].payload["weights"]["model.text_pretrained"]["kind"] == "hub"  # revision + sha256 (issue 15)
    _write(ckpt, "weights v2")  # same size, other bytes
    again = Fingerprinter().of_config({"data": {"scene": "synthetic"}, "model": {"text_pretrained": f"remoteclip:{ckpt}"}})
    assert again != fp[f"remoteclip:{ckpt}"]


def test_normalise_drops_only_the_documented_keys():
    cfg = {"seed_everything": SENTINEL_SEED, "trainer": {"logger": [1], "max_epochs": 2},
           "data": {"root": "x", "split_seed": 4}, "predict_writer": {}, "model": {"text_cache_dir": "c", "lr": 1}}
    assert normalise(cfg) == {"seed_everything": SEED_PLACEHOLDER, "trainer": {"max_epochs": 2},
                              "data": {"split_seed": 4}, "model": {"lr": 1}}


def test_a_bad_override_is_a_config_error_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match="model.fusion") as e:
        _fingerprint(tmp_path, "--model.fusion", "nonsense")
    assert isinstance(e.value, UserError)


def test_lock_refuses_a_second_runner_naming_the_holder_or_waits(tmp_path):
    with ResultsLock(tmp_path, command="python -m mmlgnet.reproduce --quick"):
        owner = json.loads((tmp_path / ".lock.owner").read_text())
        assert owner["pid"] == os.getpid()
        with pytest.raises(ResultsBusyError) as e:
            ResultsLock(tmp_path).__enter__()
        msg = str(e.value)
        assert f"pid {os.getpid()}" in msg and "--wait-lock" in msg and "reproduce --quick" in msg
        assert isinstance(e.value, UserError)
    assert not (tmp_path / ".lock.owner").exists()

    first = ResultsLock(tmp_path).__enter__()
    threading.Timer(0.5, lambda: first.__exit__(None, None, None)).start()
    t0 = time.monotonic()
    with ResultsLock(tmp_path, wait_s=30) as second:  # waits for the first to let go
        assert second.held and time.monotonic() - t0 >= 0.4
