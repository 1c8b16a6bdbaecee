"""Aggregation of per-seed test_metrics.json into mean ± std tables (Markdown, CSV, LaTeX) beside reported numbers."""

from __future__ import annotations

import csv
import io
import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmlgnet.atomic import write_bytes, write_json
from mmlgnet.repro.compare.paired import markdown as paired_markdown
from mmlgnet.repro.compare.paired import paired_rows
from mmlgnet.repro.compare.table import comparison_rows
from mmlgnet.repro.compare.table import markdown as comparison_markdown
from mmlgnet.repro.group_tables import all_group_rows, in_group_tables, markdown
from mmlgnet.repro.registry import Registry

#: Variant name -> table label (order = table order).
VARIANT_LABELS: dict[str, str] = {
    "mmlgnet": "MMLGNet (symmetric)",
    "v2t": "v2t loss only",
    "t2v": "t2v loss only",
    "hsi_only": "HSI only",
    "lidar_only": "LiDAR only",
    "linear": "visual-only linear head",
}

#: What the MMLGNet paper (abstract) reports, by (scene, variant). Protocol not known to us.
PAPER: dict[tuple[str, str], str] = {
    ("trento", "mmlgnet"): "apple trees 99.95 (per-class)",
    ("muufl", "mmlgnet"): "OA 88.79 (third-party page, unverified)",
}
PAPER_OA: dict[tuple[str, str], float] = {("muufl", "mmlgnet"): 88.79}  # the only reported OA (unverified)
PAPER_CLASS: dict[tuple[str, str], float] = {("trento", "Apple trees"): 99.95}
#: Paper's ablation gaps in AA points: symmetric − v2t, and language-guided multimodal − single modality.
PAPER_DELTAS: dict[str, dict[str, float]] = {
    "trento": {"sym_minus_v2t": 0.16, "multi_minus_single": 9.42},
    "muufl": {"sym_minus_v2t": 0.22, "multi_minus_single": 28.65},
}
#: Other methods at a given (scene, protocol): OA / AA / kappa as published (see DATASETS.md).
LITERATURE: dict[tuple[str, str], str] = {
    ("trento", "standard"): "MFT 98.32 / 95.98 / 97.75; HCT 99.66 / 99.49 / 99.55",
    ("trento", "per_class:20"): "FE2MT OA 99.20",
    ("muufl", "fraction:0.05"): "MFT 94.34 / 81.48 / 92.51",
    ("muufl", "per_class:40"): "CF-IPT OA 89.25",
    ("muufl", "per_class:60"): "FE2MT OA 89.67",
}


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n − 1); std is NaN for a single value."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    m = sum(values) / n
    if n == 1:
        return m, math.nan
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))


def fmt(m: float, s: float, digits: int = 2) -> str:
    if math.isnan(m):
        return "–"
    return f"{m:.{digits}f}" if math.isnan(s) else f"{m:.{digits}f} ± {s:.{digits}f}"


@dataclass
class Group:
    """The finished seeds of one (setting, variant) that share one fingerprint: one table row."""

    setting: str
    variant: str
    fingerprint: str = ""
    overrides: list[str] = field(default_factory=list)  # on top of the setting's configs
    records: list[dict[str, Any]] = field(default_factory=list)  # test_metrics.json of each seed
    runs: list[dict[str, Any]] = field(default_factory=list)  # run.json of each seed
    seeds: list[int] = field(default_factory=list)

    @property
    def scene(self) -> str:
        return self.records[0].get("scene", "")

    @property
    def protocol(self) -> str:
        return (self.records[0].get("split") or {}).get("name", "")

    @property
    def class_names(self) -> list[str]:
        return list(self.records[0]["per_class_accuracy"])

    @property
    def overrides_text(self) -> str:
        return shlex.join(self.overrides) if self.overrides else "none"

    def stat(self, key: str) -> tuple[float, float]:
        return mean_std([float(r[key]) for r in self.records])

    def class_stat(self, name: str) -> tuple[float, float]:
        vals = [r["per_class_accuracy"].get(name) for r in self.records]
        return mean_std([float(v) for v in vals if v is not None and not math.isnan(float(v))])

    def counts(self, subset: str) -> list[int] | None:
        c = (self.records[0].get("split") or {}).get("counts") or {}
        return c.get(subset)

    def totals(self) -> tuple[int | None, int | None]:
        tr, te = self.counts("train"), self.counts("test")
        return (sum(tr) if tr else None), (sum(te) if te else None)

    def wall(self) -> tuple[float, float]:
        return mean_std([float(r["wall_s"]) for r in self.runs if "wall_s" in r])

    def epochs(self) -> str:
        eps = sorted({int(r["max_epochs"]) for r in self.runs if r.get("max_epochs") is not None})
        return ",".join(map(str, eps)) or "?"


def collect(results: Path, plan: Mapping[tuple[str, str], str] | None = None,
            registry: Registry | None = None) -> tuple[list[Group], list[str]]:
    """Table rows from the registry's finished runs (run.json `done`), and notes on what was left out.

    A row never mixes fingerprints: for a (setting, variant) of `plan` (-> short fingerprint) only runs of the
    plan's fingerprint count; for any other (setting, variant) found in `results`, the fingerprint of the most
    recently finished run. Runs of other fingerprints are named in the notes.
    """
    found: dict[tuple[str, str], dict[str, Group]] = {}
    for f in (registry or Registry(results)).finished():  # the invocation's registry: files read once
        fp = str(f.run.get("fingerprint") or "")
        g = found.setdefault((f.setting, f.variant), {}).setdefault(
            fp, Group(f.setting, f.variant, fp, list(f.run.get("overrides") or [])))
        g.records.append(f.metrics)
        g.runs.append(f.run)
        g.seeds.append(f.seed)
    groups, notes = [], []
    for (setting, variant), by_fp in sorted(found.items()):
        if plan is not None and (setting, variant) in plan:
            chosen, why = plan[setting, variant], "this command's settings"
        else:
            chosen = max(by_fp.values(), key=lambda g: max(str(r.get("finished", "")) for r in g.runs)).fingerprint
            why = "the most recently finished run; not in this command's plan" if plan is not None else "the latest"
        if chosen in by_fp:
            groups.append(by_fp[chosen])
        others = [g for fp, g in by_fp.items() if fp != chosen]
        if others:
            left = ", ".join(f"{g.fingerprint or 'none'} (seeds {_seeds(g.seeds)}, overrides: {g.overrides_text})"
                             for g in others)
            notes.append(f"{setting} / {variant}: row from fingerprint {chosen} ({why}); finished runs of other "
                         f"fingerprints not shown: {left}")
    order = {v: i for i, v in enumerate(VARIANT_LABELS)}
    return sorted(groups, key=lambda g: (g.setting, order.get(g.variant, 99), g.variant)), notes


def _seeds(seeds: Sequence[int]) -> str:
    return ",".join(map(str, sorted(seeds)))


def main_rows(groups: list[Group], labels: Mapping[str, str] = VARIANT_LABELS) -> list[dict[str, str]]:
    rows = []
    for g in groups:
        tr, te = g.totals()
        rows.append({
            "setting": g.setting, "split": g.protocol, "variant": labels.get(g.variant, g.variant),
            "seeds": str(len(g.records)), "epochs": g.epochs(),
            "OA": fmt(*g.stat("OA")), "AA": fmt(*g.stat("AA")), "kappa": fmt(*g.stat("kappa")),
            "paper (MMLGNet)": PAPER.get((g.scene, g.variant), "–"),
            "literature, same split (OA / AA / κ)": LITERATURE.get((g.scene, g.protocol), "–")
            if g.variant == "mmlgnet" else "",
            "train / test px": f"{tr} / {te}", "wall s / run": fmt(*g.wall(), digits=1),
            "fingerprint": g.fingerprint, "overrides": g.overrides_text,
        })
    return rows


def delta_rows(groups: list[Group]) -> list[dict[str, str]]:
    """Our AA gaps (mean over seeds of each variant) beside the paper's, per setting."""
    by = {(g.setting, g.variant): g for g in groups}
    rows = []
    for setting in sorted({g.setting for g in groups}):
        sym = by.get((setting, "mmlgnet"))
        if sym is None:
            continue
        paper = PAPER_DELTAS.get(sym.scene, {})
        aa = sym.stat("AA")[0]
        for other, what, key in (("v2t", "symmetric − v2t", "sym_minus_v2t"),
                                 ("hsi_only", "multimodal − HSI only", "multi_minus_single"),
                                 ("lidar_only", "multimodal − LiDAR only", "multi_minus_single")):
            if (setting, other) in by:
                ours = aa - by[(setting, other)].stat("AA")[0]
                rows.append({"setting": setting, "AA gap": what, "ours": f"{ours:+.2f}",
                             "paper": f"{paper[key]:+.2f}" if key in paper else "–"})
    return rows


def class_rows(groups: list[Group], setting: str) -> tuple[list[str], list[list[str]]]:
    gs = [g for g in groups if g.setting == setting]
    names = gs[0].class_names
    none: list[int | None] = [None] * len(names)
    tr, te = gs[0].counts("train") or none, gs[0].counts("test") or none
    header = ["class", "train", "test", *(VARIANT_LABELS.get(g.variant, g.variant) for g in gs), "paper"]
    rows = []
    for i, n in enumerate(names):
        paper = PAPER_CLASS.get((gs[0].scene, n))
        rows.append([n, str(tr[i]), str(te[i]), *(fmt(*g.class_stat(n)) for g in gs),
                     f"{paper:.2f}" if paper is not None else "–"])
    return header, rows


def _md(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]  # an override may hold |
    return "\n".join(out)


def _tex_escape(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("±", r"$\pm$"), ("κ", r"$\kappa$"), ("−", "--"), ("–", "--")):
        s = s.replace(a, b)
    return s


def _tex(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str) -> str:
    lines = [r"\begin{table}[ht]", r"\centering\small", rf"\caption{{{_tex_escape(caption)}}}",
             r"\begin{tabular}{" + "l" * len(header) + "}", r"\toprule",
             " & ".join(_tex_escape(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(_tex_escape(c) for c in r) + r" \\" for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def csv_rows(groups: list[Group]) -> list[dict[str, Any]]:
    """Long format: one row per (setting, variant, metric)."""
    out = []
    for g in groups:
        tr, te = g.totals()
        base = {"setting": g.setting, "scene": g.scene, "split": g.protocol, "variant": g.variant,
                "n_seeds": len(g.records), "epochs": g.epochs(), "train_pixels": tr, "test_pixels": te,
                "wall_s_mean": round(g.wall()[0], 1), "fingerprint": g.fingerprint, "overrides": g.overrides_text}
        metrics = [(k, g.stat(k), PAPER_OA.get((g.scene, g.variant), "") if k == "OA" else "") for k in ("OA", "AA", "kappa")]
        metrics += [(f"acc:{n}", g.class_stat(n), PAPER_CLASS.get((g.scene, n), "") if g.variant == "mmlgnet" else "")
                    for n in g.class_names]
        for key, (m, s), paper in metrics:
            out.append({**base, "metric": key, "mean": round(m, 4), "std": "" if math.isnan(s) else round(s, 4),
                        "paper": paper})
    return out


def json_rows(groups: list[Group], labels: Mapping[str, str] = VARIANT_LABELS) -> list[dict[str, Any]]:
    """tables.json: one object per row with the numbers unformatted (std null for one seed)."""
    out = []
    for g in groups:
        tr, te = g.totals()
        out.append({"setting": g.setting, "scene": g.scene, "split": g.protocol, "variant": g.variant,
                    "label": labels.get(g.variant, g.variant), "fingerprint": g.fingerprint,
                    "overrides": g.overrides, "seeds": sorted(g.seeds), "epochs": g.epochs(),
                    "train_pixels": tr, "test_pixels": te, "wall_s": list(g.wall()),
                    **{k: list(g.stat(k)) for k in ("OA", "AA", "kappa")}})
    return out


FINGERPRINT_NOTE = ("`fingerprint`: short hash of everything that decides a row's numbers (the resolved config "
                    "after all overrides, the data files' size + sha256, package versions); all seeds of a row "
                    "share it. `overrides`: the options on top of the setting's config files.")


def write_tables(results: Path, header_lines: Sequence[str] = (), skipped: Sequence[str] = (),
                 plan: Mapping[tuple[str, str], str] | None = None,
                 meta: Mapping[str, Any] | None = None, registry: Registry | None = None) -> dict[str, Path]:
    """Write results/tables.{md,csv,tex,json} from the registry's finished runs; returns the paths.

    `plan`: (setting, variant) -> the fingerprint this command would run (rows use only runs of it);
    `meta`: what produced the tables (command, wall time, machine) and the plan's layout (groups, aliases,
    absent variants: mmlgnet.repro.plan.plan_layout), copied into tables.json. Variants of the text / prompts
    / open-vocabulary groups get their own tables (mmlgnet.repro.group_tables), not rows of the main one.
    """
    every, notes = collect(results, plan, registry)
    hidden = in_group_tables(meta or {})
    found = {(g.setting, g.variant): g for g in every}
    group_rows = all_group_rows(meta or {}, found)
    paired = paired_rows(meta or {}, found)  # the few-shot group's seed-by-seed differences
    labels = {**VARIANT_LABELS, **((meta or {}).get("labels") or {})}
    comparison = comparison_rows(meta or {}, found, results, labels)
    groups = [g for g in every if g.variant not in hidden]
    md = ["# Results", "", *header_lines, "", FINGERPRINT_NOTE, ""]
    tex = ["% generated by python -m mmlgnet.reproduce; needs \\usepackage{booktabs}", ""]
    main = main_rows(groups, labels)
    if main:
        md += ["## OA / AA / κ (%), mean ± std over seeds", "", _md(list(main[0]), [list(r.values()) for r in main]), ""]
        tex.append(_tex(list(main[0]), [list(r.values()) for r in main], "OA / AA / kappa (%), mean ± std over seeds"))
    elif not (every or comparison or group_rows):  # the group tables below hold the runs when only groups ran
        md += ["No finished run yet.", ""]
    deltas = delta_rows(groups)
    if deltas:
        md += ["## Ablation gaps in AA (points): ours vs the paper", "", _md(list(deltas[0]), [list(r.values()) for r in deltas]), ""]
        tex.append(_tex(list(deltas[0]), [list(r.values()) for r in deltas], "Ablation gaps in AA (points)"))
    md += comparison_markdown(comparison) + markdown(group_rows) + paired_markdown(paired)
    for setting in sorted({g.setting for g in groups}):
        header, rows = class_rows(groups, setting)
        g0 = next(g for g in groups if g.setting == setting)
        title = f"Per-class accuracy (%), {setting} (split {g0.protocol}; train/test = pixels per class)"
        md += [f"## {title}", "", _md(header, rows), ""]
        tex.append(_tex(header, rows, title))
    if notes:
        md += ["## Runs left out of the rows", "", *(f"- {n}" for n in notes), ""]
        tex += [f"% left out: {n}" for n in notes]
    if skipped:
        md += ["## Not run", "", *(f"- {s}" for s in skipped), ""]
        tex += [f"% not run: {s}" for s in skipped]
    buf = io.StringIO()
    long_rows = csv_rows(every)
    fields = list(long_rows[0]) if long_rows else ["setting", "scene", "split", "variant", "metric", "mean", "std", "n_seeds"]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(long_rows)
    return {
        "md": write_bytes(results / "tables.md", "\n".join(md).encode()),
        "csv": write_bytes(results / "tables.csv", buf.getvalue().encode()),
        "tex": write_bytes(results / "tables.tex", "\n".join(tex).encode()),
        "json": write_json(results / "tables.json", {"meta": dict(meta or {}), "header": list(header_lines),
                                                      "rows": json_rows(every, labels), "groups": group_rows,
                                                      "paired": paired,
                                                      "comparison": comparison,
                                                      "notes": notes,
                                                      "skipped": list(skipped)}),
    }

