"""Issue 16 item 5 for reproduce: one invocation hashes each data file once (data check and fingerprints share the
digests) and reads each file of a finished run once (done-check, reproduce.json, both table passes)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pooch
import pytest
from cardkit import pinned_trento

from mmlgnet.repro import reproduce
from mmlgnet.repro.fingerprint import Fingerprint
from mmlgnet.repro.lock import ResultsLock
from mmlgnet.repro.plan import VARIANTS, Run, Setting
from mmlgnet.repro.registry import Registry, summary
from mmlgnet.repro.tables import collect, write_tables


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """File name -> how many times its bytes were hashed (pooch.file_hash does every sha256sum)."""
    seen: Counter[str] = Counter()
    real = pooch.file_hash

    def counting(fname: str, alg: str = "sha256") -> str:
        seen[Path(fname).name] += 1
        return real(fname, alg=alg)

    monkeypatch.setattr(pooch, "file_hash", counting)
    return seen


def test_a_reproduce_invocation_hashes_each_data_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          hashes: Counter[str], capsys: pytest.CaptureFixture) -> None:
    """Before: the data check (load_scene's pinned sha256) and the fingerprint (every file's sha256) each hashed
    the files: 2 per file per invocation."""
    files = pinned_trento(tmp_path / "data", monkeypatch)
    argv = ["--scenes", "trento", "--data-root", str(tmp_path / "data"), "--results", str(tmp_path / "r"),
            "--groups", "main", "--variants", "mmlgnet", "--seeds", "1", "--no-wandb", "--dry-run"]
    assert reproduce.main(argv) == 0
    assert "fingerprint" in capsys.readouterr().out
    assert hashes == Counter({p.name: 1 for p in files})
    hashes.clear()
    assert reproduce.main(argv) == 0  # a new invocation hashes again (the files may have changed in between)
    assert hashes == Counter({p.name: 1 for p in files})


GOOD = {"scene": "synthetic", "OA": 80.0, "AA": 75.0, "kappa": 70.0, "per_class_accuracy": {"a": 90.0, "b": 50.0},
        "confusion_matrix": [[9, 1], [1, 1]], "num_test_pixels": 12, "split": {"name": "per_class:20"},
        "trained": {"global_step": 12, "epochs": 2}}


def _run(seed: int) -> Run:
    setting = Setting("synthetic-quick", "synthetic", "per_class:20", ())
    fp = "a" * 64
    return Run(setting, VARIANTS["lidar_only"], seed, False, ("fit",), (), Fingerprint(fp[:12], fp, {"config": {}}))


def test_each_file_of_a_finished_run_is_read_once_per_invocation(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: run.json was read by the done-check, reproduce.json's summary and each of the two table passes
    (4 reads), test_metrics.json by the done-check and both table passes (3), and by finish twice."""
    runs = [_run(0), _run(1)]
    with ResultsLock(tmp_path) as lock:
        first = Registry(tmp_path, lock)
        for run in runs:
            first.start(run, "inprocess")
            (first.dir(run) / "test_metrics.json").write_text(json.dumps({**GOOD, "seed": run.seed}))
    reads: Counter[str] = Counter()
    real = Path.read_text

    def counting(self: Path, *args: object, **kwargs: object) -> str:
        reads[f"{self.parent.name}/{self.name}"] += 1
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", counting)
    with ResultsLock(tmp_path) as lock:  # what one invocation does with these runs
        registry = Registry(tmp_path, lock)
        for run in runs:
            assert registry.state(run)[0] == "attempt"
            assert registry.finish(run, "done", 1.0)["status"] == "done"  # the done-check reads test_metrics.json
            assert registry.state(run)[0] == "done"
        assert [r["status"] for r in summary(registry, runs)] == ["done", "done"]  # reproduce.json's list
        groups, _ = collect(tmp_path, None, registry)
        write_tables(tmp_path, registry=registry)
    assert [len(g.runs) for g in groups] == [2]
    assert reads == Counter({f"seed{k}/{name}": 1 for k in (0, 1) for name in ("run.json", "test_metrics.json")})
    reads.clear()
    assert len(collect(tmp_path)[0][0].runs) == 2  # a new invocation (registry) reads again
    assert reads == Counter({f"seed{k}/{name}": 1 for k in (0, 1) for name in ("run.json", "test_metrics.json")})
    assert np.isfinite(groups[0].stat("OA")[0])
