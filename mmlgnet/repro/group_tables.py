"""The variant groups' tables (text encoder, prompts, open vocabulary): rows from finished runs, absent rows named.

Each group lists, per setting, the variants the plan asked for (tables.json meta `groups`). A row shows the
finished runs of its own fingerprint, or of the variant it is an alias of (same resolved config, run once),
or says why it has no numbers: absent from the plan (e.g. weights not given) or no finished run. A row is
never filled from another variant's numbers except through such an alias, which the row names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from mmlgnet.repro.groups import FEWSHOT_SHOTS, OPEN_VOCAB

GROUP_TITLES: dict[str, str] = {
    "text": "What the text encoder adds",
    "prompts": "Prompts: templates, class descriptions, both, learned (CoOp)",
    "openvocab": "Open vocabulary: each class held out of training in turn (seen / unseen mean per-class "
                 "accuracy, harmonic mean H)",
    "fewshot": "Few-shot: visual-only linear head, text head with an untrained and with the real MiniLM "
               "(OA / AA / κ %, mean ± std over seeds)",
    "fewshot-openvocab": "Few-shot open vocabulary, real MiniLM (templates + descriptions): each class held out "
                         "of training in turn (seen / unseen mean per-class accuracy, harmonic mean H)",
}
LABELS: dict[str, str] = {
    "text-untrained": "untrained CLIP text tower", "text-openai": "OpenAI CLIP", "text-remoteclip": "RemoteCLIP",
    "text-georsclip": "GeoRSCLIP", "text-skyclip": "SkyCLIP", "text-minilm": "MiniLM (sentence-transformers)",
    "linear": "visual-only linear head (no text)", "mmlgnet": "MMLGNet (the setting's text encoder)",
    "prompts-templates": "templates", "prompts-descriptions": "class descriptions",
    "prompts-both": "templates + descriptions", "prompts-coop": "CoOp (learned context)",
    "fewshot-linear": "visual-only linear head", "fewshot-untrained": "text head, untrained MiniLM + templates",
    "fewshot-minilm-templates": "MiniLM + templates", "fewshot-minilm-descriptions": "MiniLM + descriptions",
    "fewshot-minilm-both": "MiniLM + templates + descriptions",
}
OPEN_VOCAB_KEYS = ("seen_accuracy", "unseen_accuracy", "harmonic_mean")


def _stat(records: Sequence[Mapping[str, Any]], key: str) -> list[float | None]:
    """[mean, sample std] over the seeds that define `key` (null when none / one seed)."""
    vals = [float(r[key]) for r in records if isinstance(r.get(key), int | float) and math.isfinite(float(r[key]))]
    if not vals:
        return [None, None]
    m = sum(vals) / len(vals)
    s = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else None
    return [m, s]


def text_setup(record: Mapping[str, Any]) -> str:
    """The text side a run used, from test_metrics.json's `variant` (encoder, model, weights)."""
    v = record.get("variant") or {}
    if v.get("head") == "linear":
        return "none (linear head)"
    model, weights = v.get("text_model"), v.get("text_pretrained")
    if not model:
        return "?"
    what = f"{v.get('text_encoder', 'open_clip')} {model}"
    if v.get("text_encoder", "open_clip") == "open_clip":
        what += f" ({weights})" if weights else " (untrained)"
    elif "text_pretrained" in v and weights is None:  # sentence_transformers, null: randomly initialised
        what += " (untrained)"
    return what + (f", prompts {v['prompts']}" if v.get("prompts") not in (None, "templates") else "") + \
        (", CoOp" if v.get("prompt_learning") == "coop" else "")


def modalities(record: Mapping[str, Any]) -> str:
    """The visual input a run used, from test_metrics.json's `variant` ("HSI + LiDAR", "LiDAR", ...)."""
    mods = (record.get("variant") or {}).get("modalities") or []
    return " + ".join({"hsi": "HSI", "lidar": "LiDAR"}.get(str(m), str(m)) for m in mods) or "?"


def group_rows(group: str, slug: str, names: Sequence[str], found: Mapping[tuple[str, str], Any],
               aliases: Mapping[str, str], absent: Mapping[str, str]) -> list[dict[str, Any]]:
    """One row per variant of `group` at setting `slug`; `found`: (slug, variant) -> tables.Group."""
    rows = []
    for name in names:
        row: dict[str, Any] = {"group": group, "setting": slug, "variant": name, "label": LABELS.get(name, name)}
        source = aliases.get(f"{slug}/{name}", name)
        g = found.get((slug, source))
        if f"{slug}/{name}" in absent:
            rows.append({**row, "status": "absent", "reason": absent[f"{slug}/{name}"]})
            continue
        if g is None:
            rows.append({**row, "status": "absent", "reason": "no finished run (see the run folders / reproduce.json)"})
            continue
        row.update(status="done", runs_of=source, fingerprint=g.fingerprint, seeds=sorted(g.seeds),
                   text=text_setup(g.records[0]), **{k: _stat(g.records, k) for k in ("OA", "AA", "kappa")})
        if group in FEWSHOT_SHOTS:
            row["input"] = modalities(g.records[0])
        if group in OPEN_VOCAB:
            held = g.records[0].get("unseen_classes") or []
            row["label"] = "held out: " + ", ".join(map(str, held)) if held else name
            row.update({k: _stat(g.records, k) for k in OPEN_VOCAB_KEYS})
        rows.append(row)
    return rows


def all_group_rows(layout: Mapping[str, Any], found: Mapping[tuple[str, str], Any]) -> list[dict[str, Any]]:
    """Rows of every group but `main` (tables.py's) and the comparison groups (mmlgnet.repro.compare.table), from
    tables.json meta's layout; a --variants-file label (meta `labels`) replaces the built-in one."""
    groups = layout.get("groups") or {}
    aliases, absent = layout.get("aliases") or {}, layout.get("absent") or {}
    labels = layout.get("labels") or {}
    return [{**row, "label": labels.get(row["variant"], row["label"]) if group not in OPEN_VOCAB else row["label"]}
            for group, by_setting in groups.items() if group not in ("main", "baselines", "baselines-text")
            for slug, names in (by_setting.items() if group in FEWSHOT_SHOTS else sorted(by_setting.items()))
            for row in group_rows(group, slug, names, found, aliases, absent)]


def cell(stat: Sequence[float | None] | None) -> str:
    if not stat or stat[0] is None:
        return "–"
    return f"{stat[0]:.2f}" if stat[1] is None or len(stat) < 2 else f"{stat[0]:.2f} ± {stat[1]:.2f}"


def markdown(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Markdown sections, one per (group, setting), with the rows in plan order."""
    out: list[str] = []
    keys = list(dict.fromkeys((r["group"], r["setting"]) for r in rows))
    for group, slug in keys:
        these = [r for r in rows if (r["group"], r["setting"]) == (group, slug)]
        ov, few = group in OPEN_VOCAB, group in FEWSHOT_SHOTS
        head = ["variant", *(("input",) if few else ()), "text side", "seeds", "OA", "AA", "κ",
                *(("seen", "unseen", "H") if ov else ()), "fingerprint"]
        out += [f"## {GROUP_TITLES.get(group, group)}, {slug}", "", "| " + " | ".join(head) + " |",
                "|" + "---|" * len(head)]
        for r in these:
            if r["status"] != "done":
                out.append(f"| {r['label']} | absent: {r['reason']} |" + " |" * (len(head) - 2))
                continue
            alias = f" (= {r['runs_of']})" if r["runs_of"] != r["variant"] else ""
            nums = [cell(r[k]) for k in ("OA", "AA", "kappa", *(OPEN_VOCAB_KEYS if ov else ()))]
            cells = [f"{r['label']}{alias}", *((r.get("input", "?"),) if few else ()), r["text"], str(len(r["seeds"]))]
            out.append("| " + " | ".join([*cells, *nums]) + f" | `{r['fingerprint']}` |")
        out.append("")
    return out


def in_group_tables(layout: Mapping[str, Any]) -> set[str]:
    """Variants shown only in a group table (not in the main table)."""
    groups = layout.get("groups") or {}
    main = {n for names in (groups.get("main") or {}).values() for n in names}
    return {n for g, by in groups.items() if g != "main" for names in by.values() for n in names} - main
