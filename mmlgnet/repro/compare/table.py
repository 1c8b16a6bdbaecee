"""The comparison table: each method (as published, and with the text head) beside MMLGNet, with its costs and
the peers' published numbers.

Rows come from the `baselines` and `baselines-text` groups of the plan (tables.json meta `groups`), plus
MMLGNet (`mmlgnet`) and its visual-only twin (`linear`) where the plan ran them at the same setting. Each row:
OA / AA / κ (mean ± std over seeds), parameters, patch size, fit seconds per run, test pixels per second
(mmlgnet.repro.compare.costs says what each measures) and, for a method's published recipe, the numbers its
authors or later papers report (published.yaml: protocol, whether the checkpoint was chosen on the test set,
source). Published numbers are shown beside ours, never used as ours.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from mmlgnet.repro.compare.costs import run_costs
from mmlgnet.repro.compare.methods import method_of

COMPARISON_GROUPS = ("baselines", "baselines-text")
REFERENCE_ROWS = ("mmlgnet", "linear")  # shown first when the plan ran them at the setting
PUBLISHED = Path(__file__).with_name("published.yaml")
PUBLISHED_SCENES = ("trento", "muufl", "houston2013")
START, END = "<!-- baselines-table:start -->", "<!-- baselines-table:end -->"
SNAPSHOT = "docs/quick-baselines-tables.json"
REGENERATE = ("python -m mmlgnet.reproduce --quick --no-wandb --groups main baselines baselines-text --results /tmp/qb && "
              f"python -m mmlgnet.tables /tmp/qb --block baselines --readme README.md --snapshot {SNAPSHOT}")
TITLE = "Comparison: established methods as published, their backbones with the text head, and MMLGNet"


@functools.cache
def published() -> dict[str, dict[str, list[dict[str, Any]]]]:
    """published.yaml: method -> scene -> entries (OA, AA, kappa, protocol, selected_on_test, note, source)."""
    return yaml.safe_load(PUBLISHED.read_text()) or {}


def published_text(variant: str, scene: str, protocol: str) -> str:
    """The published numbers of the method behind `variant` at `scene`, with protocol and test selection."""
    m = method_of(variant)
    if m is None or variant != m.name:
        return ""
    entries = (published().get(m.name) or {}).get(scene) or []
    if not entries:
        return "none found" if scene in PUBLISHED_SCENES else "–"
    out = []
    for e in entries:
        nums = " / ".join("–" if e.get(k) is None else f"{float(e[k]):.2f}" for k in ("OA", "AA", "kappa"))
        split = str(e.get("protocol", "?"))
        same = "same split" if split.split(" ")[0] == protocol else f"split {split}"
        test = "chosen on TEST" if e.get("selected_on_test") else "not chosen on test"
        out.append(f"{nums} ({same}; {test}; {e.get('source', '?')})")
    return "; ".join(out)


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(vals) / len(vals) if vals else None


def _costs(results: Path, g: Any) -> list[dict[str, Any]]:
    """Each seed's costs: run.json's `costs`, else read off the run folder now."""
    return [r.get("costs") or run_costs(results / g.setting / g.variant / f"seed{seed}")
            for r, seed in zip(g.runs, g.seeds, strict=True)]


def _stat(g: Any, key: str) -> list[float | None]:
    m, s = g.stat(key)
    return [None if math.isnan(m) else m, None if math.isnan(s) else s]


def comparison_rows(layout: Mapping[str, Any], found: Mapping[tuple[str, str], Any], results: Path,
                    labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """One row per (setting, variant) of the comparison groups (and MMLGNet's reference rows); `found`:
    (slug, variant) -> tables.Group of finished runs."""
    groups = layout.get("groups") or {}
    aliases, absent = layout.get("aliases") or {}, layout.get("absent") or {}
    settings = sorted({slug for g in COMPARISON_GROUPS for slug in (groups.get(g) or {})})
    rows = []
    for slug in settings:
        names = [n for n in REFERENCE_ROWS if (slug, n) in found] + \
            [n for g in COMPARISON_GROUPS for n in (groups.get(g) or {}).get(slug, [])]
        for name in dict.fromkeys(names):
            row: dict[str, Any] = {"setting": slug, "variant": name, "label": labels.get(name, name)}
            source = aliases.get(f"{slug}/{name}", name)
            g = found.get((slug, source))
            if f"{slug}/{name}" in absent or g is None:
                rows.append({**row, "status": "absent",
                             "reason": absent.get(f"{slug}/{name}", "no finished run (see reproduce.json)")})
                continue
            costs = _costs(results, g)
            head = (g.records[0].get("variant") or {}).get("head", "?")
            rows.append({**row, "status": "done", "runs_of": source, "fingerprint": g.fingerprint, "head": head,
                         "seeds": sorted(g.seeds), **{k: _stat(g, k) for k in ("OA", "AA", "kappa")},
                         "params": next((c["params"] for c in costs if c.get("params") is not None), None),
                         "patch_size": next((c["patch_size"] for c in costs if c.get("patch_size")), None),
                         "fit_s": _mean([c.get("fit_s") for c in costs]),
                         "test_px_per_s": _mean([c.get("test_px_per_s") for c in costs]),
                         "published": published_text(name, g.scene, g.protocol)})
    return rows


def _cell(stat: Sequence[float | None]) -> str:
    if not stat or stat[0] is None:
        return "–"
    return f"{stat[0]:.2f}" if stat[1] is None else f"{stat[0]:.2f} ± {stat[1]:.2f}"


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


COLUMNS = ("method", "head", "patch", "seeds", "OA", "AA", "κ", "params", "fit s / run", "test px/s",
           "published OA / AA / κ (protocol; test selection; source)", "fingerprint")
NOTE = ("`params`: trained tensors of the checkpoint (BatchNorm statistics and frozen class-prompt embeddings "
        "left out). `fit s / run`: run start to the last checkpoint (set-up + training). `test px/s`: test pixels "
        "over the test phase's wall time, set-up included (a lower bound; `benchmarks/methods.py` times the forward "
        "pass alone). Published numbers come from published.yaml (mmlgnet/repro/compare/), each with its source; "
        "`chosen on TEST` means the official code keeps the best-on-test checkpoint (optimistic); the harness never "
        "selects on test.")


def markdown(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One Markdown section per setting."""
    out: list[str] = []
    for slug in dict.fromkeys(r["setting"] for r in rows):
        out += [f"## {TITLE}, {slug}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        for r in (r for r in rows if r["setting"] == slug):
            if r["status"] != "done":
                out.append(f"| {r['label']} | absent: {r['reason']} |" + " |" * (len(COLUMNS) - 2))
                continue
            alias = f" (= {r['runs_of']})" if r["runs_of"] != r["variant"] else ""
            cells = [f"{r['label']}{alias}", str(r["head"]), _num(r["patch_size"], "d"), str(len(r["seeds"])),
                     *(_cell(r[k]) for k in ("OA", "AA", "kappa")), _num(r["params"], ","),
                     _num(r["fit_s"], ".1f"), _num(r["test_px_per_s"], ",.0f"), r["published"] or "",
                     f"`{r['fingerprint']}`"]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        out += ["", NOTE, ""]
    return out


def render_block(snapshot: Mapping[str, Any], source: str = SNAPSHOT) -> str:
    """The README's quick comparison block (markers included) from a quick run's tables.json."""
    from mmlgnet.errors import UserError

    meta, rows = snapshot.get("meta") or {}, snapshot.get("comparison") or []
    if not rows:
        raise UserError(f"{source} has no comparison rows: run the quick comparison first ({REGENERATE}).")
    versions = meta.get("versions") or {}
    body = [line.replace("## ", "**", 1) + "**" if line.startswith("## ") else line for line in markdown(rows)]
    return "\n".join([
        START,
        f"<!-- generated from {source}; do not edit by hand. Regenerate: {REGENERATE} -->",
        f"Produced by `{meta.get('command', '?')}` ({meta.get('n_runs', '?')} runs) on {meta.get('machine', '?')} "
        f"with mmlgnet {versions.get('mmlgnet', '?')}, torch {versions.get('torch', '?')}. A pipeline check on the "
        "synthetic quick scene (15 epochs, FusAtNet and Two-Branch CNN narrowed: configs/overlays/quick-baselines/), "
        "NOT evidence about the methods; times were measured on a shared machine under load.",
        "",
        *body[:-1],
        END,
    ])
