"""The few-shot group's paired table (mmlgnet.repro.compare.paired) on known registry contents: known rows.

Runs are recorded in a registry as a runner would (test_metrics.json with chosen OA/AA/κ per seed), the tables
are written, and the paired differences are checked against numbers worked out by hand.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from mmlgnet.repro.compare.paired import cell, difference, paired_rows
from mmlgnet.repro.fingerprint import Fingerprint
from mmlgnet.repro.groups import VARIANTS
from mmlgnet.repro.lock import ResultsLock
from mmlgnet.repro.plan import Run, Setting
from mmlgnet.repro.registry import Registry
from mmlgnet.repro.tables import write_tables

SETTING = Setting("trento-fewshot-5pc", "trento", "per_class:5", (), ("fewshot",))
#: variant -> OA per seed 0, 1, 2 (AA = OA − 10, κ = OA − 20)
OA = {"fewshot-linear": [80.0, 82.0, 84.0], "fewshot-untrained": [81.0, 81.0, 86.0],
      "fewshot-minilm-templates": [85.0, 86.0, 87.0], "fewshot-minilm-descriptions": [80.0, 82.0, 84.0]}


def record(variant: str, seed: int) -> dict[str, Any]:
    oa = OA[variant][seed]
    return {"scene": "trento", "seed": seed, "OA": oa, "AA": oa - 10, "kappa": oa - 20,
            "per_class_accuracy": {"a": oa, "b": oa}, "confusion_matrix": [[4, 1], [0, 5]], "num_test_pixels": 10,
            "split": {"name": "per_class:5"}, "trained": {"global_step": 3, "epochs": 3},
            "variant": {"head": "text", "modalities": ["lidar"]}}


def registry_with(tmp_path: Path, seeds: dict[str, list[int]]) -> None:
    with ResultsLock(tmp_path) as lock:
        registry = Registry(tmp_path, lock)
        for name, ks in seeds.items():
            fp = Fingerprint(name[:12], name.ljust(64, "0"), {"config": {}})
            for k in ks:
                run = Run(SETTING, VARIANTS[name], k, False, ("fit",), (), fp)
                (registry.start(run, "inprocess") / "test_metrics.json").write_text(json.dumps(record(name, k)))
                assert registry.finish(run, "done", 1.0)["status"] == "done"


LAYOUT = {"groups": {"fewshot": {SETTING.slug: ["fewshot-linear", "fewshot-untrained", "fewshot-minilm-templates",
                                                "fewshot-minilm-descriptions", "fewshot-minilm-both"]}},
          "aliases": {}, "absent": {}}


def test_paired_table_from_registry_contents(tmp_path):
    registry_with(tmp_path, {"fewshot-linear": [0, 1, 2], "fewshot-untrained": [0, 1, 2],
                             "fewshot-minilm-templates": [0, 1, 2], "fewshot-minilm-descriptions": [0, 1]})
    write_tables(tmp_path, meta=LAYOUT)
    out = json.loads((tmp_path / "tables.json").read_text())
    rows = {(r["a"], r["b"]): r for r in out["paired"]}
    structure = rows["fewshot-untrained", "fewshot-linear"]  # diffs +1, −1, +2
    assert structure["kind"] == "structure" and structure["OA"]["diffs"] == [1.0, -1.0, 2.0]
    assert structure["OA"]["mean"] == pytest.approx(2 / 3) and structure["OA"]["std"] == pytest.approx(math.sqrt(7 / 3))
    assert structure["OA"]["positive"] == 2 and structure["kappa"]["diffs"] == [1.0, -1.0, 2.0]
    language = rows["fewshot-minilm-templates", "fewshot-untrained"]  # diffs +4, +5, +1
    assert language["kind"] == "language" and (language["AA"]["mean"], language["AA"]["positive"]) == (
        pytest.approx(10 / 3), 3)
    descriptions = rows["fewshot-minilm-descriptions", "fewshot-linear"]  # seeds 0, 1 only: diffs 0, 0
    assert descriptions["OA"]["seeds"] == [0, 1] and descriptions["OA"]["positive"] == 0
    both = rows["fewshot-minilm-both", "fewshot-linear"]
    assert both["status"] == "absent" and both["reason"] == "no finished run of fewshot-minilm-both"
    md = (tmp_path / "tables.md").read_text()
    assert "## Few-shot, paired differences (structure vs language), trento-fewshot-5pc" in md
    assert "| structure | text head (untrained MiniLM) − linear head | 3 | +0.67 ± 1.53, 2/3 | +0.67 ± 1.53, 2/3 " \
           "| +0.67 ± 1.53, 2/3 |" in md
    assert "| language | MiniLM + templates − untrained MiniLM | 3 | +3.33 ± 2.08, 3/3 |" in md
    assert "| text vs linear | MiniLM + descriptions − linear head | 2 | +0.00 ± 0.00, 0/2 |" in md
    assert "| text vs linear | MiniLM + both − linear head | absent: no finished run of fewshot-minilm-both |" in md


def test_difference_pairs_by_seed_and_cells_read_as_documented():
    a = {0: {"OA": 90.0}, 1: {"OA": 91.0}, 3: {"OA": 50.0}}
    b = {0: {"OA": 89.0}, 1: {"OA": 92.5}, 2: {"OA": 10.0}}
    d = difference(a, b, "OA")
    assert (d["seeds"], d["diffs"], d["positive"], d["n"]) == ([0, 1], [1.0, -1.5], 1, 2)
    assert cell(d) == "-0.25 ± 1.77, 1/2"
    assert cell(difference({4: {"OA": 2.0}}, {4: {"OA": 0.5}}, "OA")) == "+1.50, 1/1"


def test_an_aliased_variant_is_read_from_the_variant_it_runs_as_and_no_common_seed_is_said(tmp_path):
    class G:
        def __init__(self, seeds: list[int], oa: list[float]) -> None:
            self.seeds, self.records = seeds, [{"OA": v, "AA": v, "kappa": v} for v in oa]

    layout = {"groups": {"fewshot": {"s": ["fewshot-linear", "fewshot-untrained", "fewshot-minilm-templates"]}},
              "aliases": {"s/fewshot-minilm-templates": "other"}}
    found = {("s", "fewshot-linear"): G([0], [70.0]), ("s", "fewshot-untrained"): G([1], [75.0]),
             ("s", "other"): G([0], [72.0])}
    rows = {(r["a"], r["b"]): r for r in paired_rows(layout, found)}
    assert rows["fewshot-minilm-templates", "fewshot-linear"]["OA"]["diffs"] == [2.0]
    assert rows["fewshot-untrained", "fewshot-linear"]["reason"] == \
        "fewshot-untrained and fewshot-linear share no finished seed"
