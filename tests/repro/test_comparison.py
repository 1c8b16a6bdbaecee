"""Issue 17.4: the `baselines` / `baselines-text` groups in the plan, the common-patch protocol, and the
comparison table (parameters, fit time, test throughput, published numbers with protocol and test selection)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from mmlgnet.repro.compare.methods import METHODS
from mmlgnet.repro.dispatch import Dispatch
from mmlgnet.repro.fingerprint import Fingerprint
from mmlgnet.repro.lock import ResultsLock
from mmlgnet.repro.plan import RunOptions, common_patch_settings, make_plan, plan_layout
from mmlgnet.repro.registry import Registry
from mmlgnet.repro.tables import write_tables
from tests.repro.test_repro_groups import METRICS, QUICK, REPO, TRENTO, available

GROUPS = ("main", "baselines", "baselines-text")


def fingerprinter(cli_args: list[str], what: str = "") -> Fingerprint:
    configs = [a for a in cli_args if a.endswith(".yaml")]
    tail = cli_args[cli_args.index("--trainer.logger") + 2:]
    digest = hashlib.sha256(json.dumps([configs, tail]).encode()).hexdigest()
    return Fingerprint(digest[:12], digest, {"config": {"data": {"patch_size": 11}}, "configs": configs})


def _plan(settings: list[Any], variants: list[str] | None, common_patch: int | None = None, quick: bool = False) -> Any:
    opts = RunOptions(Path("results"), Path("data"), quick=quick, common_patch=common_patch)
    return make_plan(common_patch_settings(settings, common_patch), variants, 1, "none", opts, available,
                     fingerprinter, GROUPS)  # type: ignore[arg-type]


def test_each_method_runs_its_overlay_with_the_linear_head_and_again_with_the_text_head():
    p = _plan([TRENTO], None)
    assert p.groups["baselines"]["trento"] == [m.name for m in METHODS]
    assert p.groups["baselines-text"]["trento"] == [f"{m.name}-text" for m in METHODS]
    runs = {r.variant.name: r for r in p.runs}
    for m in METHODS:
        for name, head in ((m.name, "linear"), (f"{m.name}-text", "text")):
            args = list(runs[name].cli_args)
            overlay = str(REPO / "configs" / "baselines" / f"{m.name}.yaml")
            assert args.index(overlay) > args.index(str(REPO / "configs" / "trento.yaml"))  # after the scene's
            assert runs[name].overrides == ("--model.head", head)
    assert plan_layout(p)["labels"]["mft-text"] == "MFT + text head"


def test_quick_mode_adds_the_quick_overlay_after_the_methods_own():
    args = list(next(r for r in _plan([QUICK], ["mft"], quick=True).runs).cli_args)
    overlay, quick = (str(REPO / "configs" / p) for p in ("baselines/mft.yaml", "overlays/quick-baselines.yaml"))
    assert args.index(quick) > args.index(overlay)


def test_common_patch_runs_every_variant_at_that_size_in_its_own_setting_and_names_what_cannot():
    p = _plan([TRENTO], ["mmlgnet", "mft", "fusatnet"], common_patch=7)
    assert {r.setting.slug for r in p.runs} == {"trento-p7"}
    assert all(r.overrides[-2:] == ("--data.patch_size", "7") for r in p.runs)  # after the overlay: it wins
    assert [r.variant.name for r in p.runs] == ["mmlgnet", "mft"]
    assert "at least 11×11" in p.absent["trento-p7", "fusatnet"]
    assert [r.variant.name for r in _plan([TRENTO], ["fusatnet"], common_patch=11).runs] == ["fusatnet"]


def _finish(dispatch: Dispatch, registry: Registry, run: Any, state: dict[str, torch.Tensor], head: str) -> None:
    d = registry.start(run, "inprocess")
    (d / "checkpoints").mkdir()
    torch.save({"state_dict": state}, d / "checkpoints" / "last.ckpt")
    metrics = {**METRICS, "scene": "trento", "split": {"name": "standard"}, "seed": run.seed, "num_test_pixels": 15,
               "variant": {"head": head}}
    (d / "test_metrics.json").write_text(json.dumps(metrics))
    t0 = (d / "fingerprint.json").stat().st_mtime
    os.utime(d / "checkpoints" / "last.ckpt", (t0 + 10, t0 + 10))  # 10 s of fit, then 3 s of test: 5 px/s
    os.utime(d / "test_metrics.json", (t0 + 13, t0 + 13))
    dispatch.record(run, True, "", 20.0, "inprocess")


def test_comparison_table_has_costs_published_numbers_and_absent_methods(tmp_path):
    p = _plan([TRENTO], ["mmlgnet", "mft", "mft-text", "fusatnet"])
    p.runs = [r for r in p.runs if r.variant.name != "fusatnet"]  # as if it failed
    state = {"net.w": torch.zeros(4, 5), "net.bn.running_mean": torch.zeros(5), "net.bn.num_batches_tracked":
             torch.tensor(3), "head.class_embeddings": torch.zeros(6, 8), "head.fc.weight": torch.zeros(6, 3)}
    with ResultsLock(tmp_path) as lock:
        registry = Registry(tmp_path, lock)
        dispatch = Dispatch(registry, p.runs, False)
        for r in p.runs:
            _finish(dispatch, registry, r, state, "linear" if r.variant.name == "mft" else "text")
    write_tables(tmp_path, plan=p.fingerprints(), meta={"quick": False, **plan_layout(p)})
    out = json.loads((tmp_path / "tables.json").read_text())
    rows = {r["variant"]: r for r in out["comparison"]}
    assert list(rows) == ["mmlgnet", "fusatnet", "mft", "mft-text"]  # MMLGNet first, then the groups in order
    mft = rows["mft"]
    assert (mft["params"], mft["fit_s"], mft["test_px_per_s"], mft["patch_size"]) == (38, 10.0, 5.0, 11)
    assert mft["published"].startswith("98.32 / 95.98 / 97.75 (same split; chosen on TEST;")
    assert rows["mft-text"]["published"] == "" and rows["mft-text"]["head"] == "text"
    assert rows["fusatnet"]["status"] == "absent" and "no finished run" in rows["fusatnet"]["reason"]
    run_json = json.loads((tmp_path / "trento" / "mft" / "seed0" / "run.json").read_text())
    assert run_json["costs"]["params"] == 38  # recorded with the run: copies of the folder keep it
    md = (tmp_path / "tables.md").read_text()
    assert "## Comparison: established methods as published" in md and "| MFT | linear | 11 | 1 | 80.00 |" in md
    assert "| FusAtNet | absent: no finished run" in md
    assert "mft" not in md.split("## OA / AA / κ")[1].split("##")[0]  # not in the main table
