"""`python -m mmlgnet.dashboard --entity E --project P`: the W&B workspace of a reproduction, as code.

Built with `wandb-workspaces` from the names the package logs (DESIGN: experiment dashboards). The runs of
`python -m mmlgnet.reproduce` carry W&B `group` = setting (e.g. trento, muufl-20pc), `job_type` = variant
and `name` = setting/variant/seed<k>; the runset is grouped by setting then variant, so each bar is a
variant's mean with its standard deviation over seeds. Sections:

- Test scores per variant: OA / AA / κ bars; the open-vocabulary seen / unseen / H bars;
- Training: loss and its two InfoNCE directions, the learned logit scale (per epoch);
- Per-class accuracy and confusion: the `test/per_class` table and the confusion-matrix image;
- Maps: the full-scene prediction, error and ground-truth maps (first seed of each variant).

Saving needs a W&B API key and the network; `--dry-run` (and every test) builds the workspace and prints its
layout without saving it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from mmlgnet.errors import UserError

#: What the package logs (mmlgnet.training.module, mmlgnet.tracking.wandb_logger, mmlgnet.mapping.prediction): the dashboard's panels.
SCORES = ("test/OA", "test/AA", "test/kappa")  # run summary keys (mmlgnet.tracking.wandb_logger.SUMMARY_KEYS)
OPEN_VOCAB = ("test/seen_accuracy", "test/unseen_accuracy", "test/harmonic_mean")
LOSSES = ("train/loss_epoch", "train/v2t", "train/t2v")
LOGIT_SCALE = "train/logit_scale"
PER_CLASS_TABLE = "test/per_class"
CONFUSION = "test/confusion_matrix"
MAPS = ("maps/prediction", "maps/error_map", "maps/ground_truth")
TITLES = {"test/OA": "OA (%)", "test/AA": "AA (%)", "test/kappa": "κ (%)", "test/seen_accuracy": "seen (%)",
          "test/unseen_accuracy": "unseen (%)", "test/harmonic_mean": "H (%)"}


def build_workspace(entity: str, project: str, name: str = "mmlgnet reproduction", settings: Sequence[str] = (),
                    tags: Sequence[str] = ()) -> Any:
    """The workspace object (wandb_workspaces.workspaces.Workspace); nothing is sent anywhere.

    `settings`: only runs of these W&B groups (reproduce settings, e.g. `synthetic-quick`); `tags`: only runs
    with one of these tags (`quick`, `full`, a scene, a variant).
    """
    import wandb_workspaces.reports.v2 as wr
    import wandb_workspaces.workspaces as ws

    def bars(keys: Sequence[str]) -> list[Any]:
        return [wr.BarPlot(title=TITLES.get(k, k), metrics=[wr.SummaryMetric(k)], groupby_aggfunc="mean",
                           groupby_rangefunc="stddev", orientation="v") for k in keys]

    sections = [
        ws.Section(name="Test scores per variant (mean ± std over seeds)", is_open=True,
                   panels=bars(SCORES)),
        ws.Section(name="Open vocabulary: held-out classes", is_open=True, panels=bars(OPEN_VOCAB)),
        ws.Section(name="Training", is_open=True, panels=[
            wr.LinePlot(title="loss (symmetric InfoNCE) and its directions", x="epoch", y=list(LOSSES),
                        groupby_aggfunc="mean", groupby_rangefunc="stddev"),
            wr.LinePlot(title="logit scale", x="epoch", y=[LOGIT_SCALE], groupby_aggfunc="mean",
                        groupby_rangefunc="stddev")]),
        ws.Section(name="Per-class accuracy and confusion", panels=[
            wr.WeavePanelSummaryTable(table_name=PER_CLASS_TABLE), wr.MediaBrowser(title="test confusion matrix",
                                                                                   media_keys=[CONFUSION])]),
        ws.Section(name="Maps", panels=[wr.MediaBrowser(title="full-scene maps", media_keys=list(MAPS), num_columns=3)]),
    ]
    filters: list[Any] = []
    if settings:
        filters.append(ws.Metric("Group").isin(list(settings)))
    if tags:
        filters.append(ws.Tags().isin(list(tags)))
    runset = ws.RunsetSettings(groupby=[ws.Metric("Group"), ws.Metric("JobType")], filters=filters)
    return ws.Workspace(entity=entity, project=project, name=name, sections=sections, runset_settings=runset)


def describe(workspace: Any) -> str:
    """The workspace's layout, one line per panel (what --dry-run prints)."""
    lines = [f"W&B workspace {workspace.name!r} for {workspace.entity}/{workspace.project}, runs grouped by "
             "setting (W&B group) and variant (job type):"]
    for section in workspace.sections:
        lines.append(f"  [{section.name}]")
        for panel in section.panels:
            keys = getattr(panel, "metrics", None) or getattr(panel, "y", None) or getattr(panel, "media_keys", None) \
                or [getattr(panel, "table_name", "")]
            lines.append(f"    {type(panel).__name__}: {', '.join(str(getattr(k, 'name', k)) for k in keys)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mmlgnet.dashboard", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--entity", required=True, help="W&B entity (user or team) that owns the project")
    p.add_argument("--project", required=True, help="W&B project of the runs (reproduce --wandb-project)")
    p.add_argument("--name", default="mmlgnet reproduction", help="the saved workspace's name")
    p.add_argument("--settings", nargs="+", default=(), help="only these settings (W&B groups), e.g. trento")
    p.add_argument("--tags", nargs="+", default=(), help="only runs with one of these tags, e.g. quick or full")
    p.add_argument("--dry-run", action="store_true", help="build the workspace and print its layout; save nothing")
    args = p.parse_args(argv)
    workspace = build_workspace(args.entity, args.project, args.name, args.settings, args.tags)
    print(describe(workspace))
    if args.dry_run:
        return 0
    try:
        return _save(workspace)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _save(workspace: Any) -> int:
    import os

    from mmlgnet.tracking.wandb_logger import has_api_key

    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "dryrun", "disabled") or not has_api_key():
        raise UserError("saving the workspace needs W&B online: no API key (WANDB_API_KEY or `wandb login`) or "
                        "WANDB_MODE is offline/disabled. Log in and rerun, or pass --dry-run to only build it. "
                        "Offline runs are uploaded first with `wandb sync <results>/wandb/offline-run-*`.")
    saved = workspace.save()
    print(f"[dashboard] saved: {saved.url}")
    return 0

