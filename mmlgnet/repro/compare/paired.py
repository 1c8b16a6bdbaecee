"""The few-shot group's paired differences: what the text head's STRUCTURE gives and what LANGUAGE gives.

At a few-shot setting every variant of seed k trains on the same drawn pixels and is tested on the same pixels
(split seed = run seed, mmlgnet.repro.plan), so the difference A − B of two variants at seed k is free of the
draw's luck; over the seeds both variants have, the table gives its mean ± sample std and on how many seeds it
is positive (A > B), so that a gain can be told from seed noise:

- structure: text head with the untrained MiniLM tower − visual-only linear head (the head, no language);
- text vs linear: each real-MiniLM prompt set − linear head (structure and language together);
- language: each real-MiniLM prompt set − the untrained MiniLM tower (same architecture, trained weights).

Rows come from the finished runs (tables.Group: `seeds` and `records` in the same order); a comparison whose
variant has no finished run, or that shares no seed, says so instead of a number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

GROUP = "fewshot"
METRICS = ("OA", "AA", "kappa")
#: (kind, A, B, what): each row is A − B, seed by seed.
COMPARISONS: tuple[tuple[str, str, str, str], ...] = (
    ("structure", "fewshot-untrained", "fewshot-linear", "text head (untrained MiniLM) − linear head"),
    ("text vs linear", "fewshot-minilm-templates", "fewshot-linear", "MiniLM + templates − linear head"),
    ("text vs linear", "fewshot-minilm-descriptions", "fewshot-linear", "MiniLM + descriptions − linear head"),
    ("text vs linear", "fewshot-minilm-both", "fewshot-linear", "MiniLM + both − linear head"),
    ("language", "fewshot-minilm-templates", "fewshot-untrained", "MiniLM + templates − untrained MiniLM"),
    ("language", "fewshot-minilm-descriptions", "fewshot-untrained", "MiniLM + descriptions − untrained MiniLM"),
    ("language", "fewshot-minilm-both", "fewshot-untrained", "MiniLM + both − untrained MiniLM"),
)
NOTE = ("Each cell: mean ± sample std over seeds of (A − B) in points, A and B at the same seed (same training "
        "and test pixels), then on how many of those seeds A > B.")


def difference(a: Mapping[int, Mapping[str, Any]], b: Mapping[int, Mapping[str, Any]], key: str) -> dict[str, Any]:
    """A − B of `key` over the seeds both have (seed -> test_metrics.json): mean, sample std (None for one seed),
    how many are > 0, the seeds and the differences."""
    seeds = sorted(set(a) & set(b))
    diffs = [float(a[s][key]) - float(b[s][key]) for s in seeds]
    n = len(diffs)
    mean = sum(diffs) / n if n else None
    std = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1)) if n > 1 and mean is not None else None
    return {"mean": mean, "std": std, "positive": sum(d > 0 for d in diffs), "n": n, "seeds": seeds, "diffs": diffs}


def _by_seed(group: Any) -> dict[int, Mapping[str, Any]]:
    return dict(zip(group.seeds, group.records, strict=True))


def paired_rows(layout: Mapping[str, Any], found: Mapping[tuple[str, str], Any]) -> list[dict[str, Any]]:
    """One row per (few-shot setting, comparison) of tables.json meta's layout; `found`: (slug, variant) ->
    tables.Group. An aliased variant (same config, run once) is read from the variant it is an alias of."""
    aliases = layout.get("aliases") or {}
    rows = []
    for slug, names in ((layout.get("groups") or {}).get(GROUP) or {}).items():  # plan order: 5, then 20 pixels
        for kind, a, b, what in COMPARISONS:
            if a not in names or b not in names:
                continue
            row: dict[str, Any] = {"setting": slug, "kind": kind, "a": a, "b": b, "what": what}
            ga, gb = (found.get((slug, aliases.get(f"{slug}/{v}", v))) for v in (a, b))
            missing = [v for v, g in ((a, ga), (b, gb)) if g is None]
            if missing:
                rows.append({**row, "status": "absent", "reason": f"no finished run of {', '.join(missing)}"})
                continue
            diffs = {k: difference(_by_seed(ga), _by_seed(gb), k) for k in METRICS}
            if not diffs["OA"]["n"]:
                rows.append({**row, "status": "absent", "reason": f"{a} and {b} share no finished seed"})
                continue
            rows.append({**row, "status": "done", **diffs})
    return rows


def cell(d: Mapping[str, Any]) -> str:
    """'+1.20 ± 0.80, 4/5' (one seed: '+1.20, 1/1')."""
    spread = f" ± {d['std']:.2f}" if d["std"] is not None else ""
    return f"{d['mean']:+.2f}{spread}, {d['positive']}/{d['n']}"


def markdown(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One section per few-shot setting, the comparisons in COMPARISONS order."""
    out: list[str] = []
    for slug in dict.fromkeys(r["setting"] for r in rows):
        head = ["kind", "A − B", "seeds", "ΔOA", "ΔAA", "Δκ"]
        out += [f"## Few-shot, paired differences (structure vs language), {slug}", "", NOTE, "",
                "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in (r for r in rows if r["setting"] == slug):
            if r["status"] != "done":
                out.append(f"| {r['kind']} | {r['what']} | absent: {r['reason']} | | | |")
                continue
            out.append(f"| {r['kind']} | {r['what']} | {r['OA']['n']} | "
                       + " | ".join(cell(r[k]) for k in METRICS) + " |")
        out.append("")
    return out
