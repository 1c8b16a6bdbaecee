"""The W&B dashboard as code: built offline with the panels of what the package logs; saving needs W&B online."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mmlgnet.tracking import dashboard

PKG = Path(dashboard.__file__).parents[1]  # the mmlgnet package


def test_workspace_has_the_panels_of_a_reproduction_grouped_by_setting_and_variant():
    import wandb_workspaces.reports.v2 as wr

    w = dashboard.build_workspace("team", "proj", settings=["trento", "muufl-20pc"], tags=["full"])
    assert (w.entity, w.project) == ("team", "proj")
    panels = {s.name: s.panels for s in w.sections}
    scores = panels["Test scores per variant (mean ± std over seeds)"]
    assert [p.metrics[0].name for p in scores] == ["test/OA", "test/AA", "test/kappa"]
    assert all(isinstance(p, wr.BarPlot) and p.groupby_rangefunc == "stddev" for p in scores)
    assert [p.metrics[0].name for p in panels["Open vocabulary: held-out classes"]] == list(dashboard.OPEN_VOCAB)
    assert [p.y for p in panels["Training"]] == [list(dashboard.LOSSES), [dashboard.LOGIT_SCALE]]
    assert panels["Maps"][0].media_keys == ["maps/prediction", "maps/error_map", "maps/ground_truth"]
    assert [str(g.name) for g in w.runset_settings.groupby] == ["Group", "JobType"]
    assert "'trento', 'muufl-20pc'" in str(w.runset_settings.filters) and "'full'" in str(w.runset_settings.filters)
    assert not dashboard.build_workspace("team", "proj").runset_settings.filters  # no filter: every run
    model = w._to_model()  # the object save() would send: serialises offline
    text = model.model_dump_json() if hasattr(model, "model_dump_json") else str(model)
    assert "test/per_class" in text and "maps/error_map" in text


def test_panel_keys_are_what_the_package_logs():
    """Each key of the dashboard is written by the code: a renamed metric must not leave an empty panel."""
    from mmlgnet.tracking.wandb_logger import SUMMARY_KEYS

    assert [f"test/{k}" for k in SUMMARY_KEYS] == [*dashboard.SCORES, *dashboard.OPEN_VOCAB]
    module = (PKG / "training" / "module.py").read_text()
    for key in ("train/loss", "train/v2t", "train/t2v", "train/logit_scale"):
        assert f'"{key}"' in module, key
    assert "on_epoch=True" in module  # Lightning then logs train/loss_epoch
    assert dashboard.PER_CLASS_TABLE in (PKG / "tracking" / "wandb_logger.py").read_text()
    names = set(re.findall(r'"(\w+)\.png"', (PKG / "mapping" / "prediction.py").read_text()))
    assert {k.removeprefix("maps/") for k in dashboard.MAPS} <= names


def test_dry_run_prints_the_layout_and_saving_offline_is_refused(capsys, monkeypatch):
    assert dashboard.main(["--entity", "e", "--project", "p", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "BarPlot: test/OA" in out and "MediaBrowser: maps/prediction" in out
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert dashboard.main(["--entity", "e", "--project", "p"]) == 2
    assert "--dry-run" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        dashboard.main(["--project", "p"])  # --entity is required
