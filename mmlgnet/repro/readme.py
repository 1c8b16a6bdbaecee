"""The README's quick-mode table: rendered from a reproduce run's tables.json, never written by hand.

`python -m mmlgnet.tables RESULTS --readme README.md --snapshot docs/quick-tables.json` copies
RESULTS/tables.json to the snapshot and replaces the README text between QUICK_START and QUICK_END with
`render_block(snapshot)`. A test renders the committed snapshot and compares it with the README byte for byte.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mmlgnet.errors import UserError

QUICK_START = "<!-- quick-table:start -->"
QUICK_END = "<!-- quick-table:end -->"
SNAPSHOT = "docs/quick-tables.json"
REGENERATE = ("python -m mmlgnet.reproduce --quick --no-wandb --results /tmp/q && "
              f"python -m mmlgnet.tables /tmp/q --readme README.md --snapshot {SNAPSHOT}")


def describe_split(scene: str, protocol: str) -> str:
    kind, _, value = protocol.partition(":")
    where = "synthetic scene" if scene == "synthetic" else scene
    if kind == "per_class":
        return f"{where}, {value} training pixels per class"
    if kind == "fraction":
        return f"{where}, {float(value) * 100:g} % of each class for training"
    return f"{where}, {protocol} split"


def _cell(stat: list[float | None]) -> str:
    mean, std = (math.nan if v is None else float(v) for v in stat)
    if math.isnan(mean):
        return "–"
    return f"{mean:.2f}" if math.isnan(std) else f"{mean:.2f} ± {std:.2f}"


def render_block(snapshot: dict[str, Any], source: str = SNAPSHOT) -> str:
    """The README block (markers included) for a tables.json of a quick-mode run."""
    meta, rows = snapshot.get("meta") or {}, snapshot.get("rows") or []
    if not rows:
        raise UserError(f"{source} has no table rows: run the quick mode first ({REGENERATE}).")
    versions = meta.get("versions") or {}
    lines = [
        QUICK_START,
        f"<!-- generated from {source}; do not edit by hand. Regenerate: {REGENERATE} -->",
        f"Produced by `{meta.get('command', '?')}`: {meta.get('n_runs', '?')} runs, "
        f"{float(meta.get('compute_s', math.nan)):.0f} s of fit + test + maps in total on {meta.get('machine', '?')} "
        f"(mmlgnet {versions.get('mmlgnet', '?')}, torch {versions.get('torch', '?')}):",
        "",
        "| variant | seeds | OA | AA | κ | fingerprint |",
        "|---|---|---|---|---|---|",
        *(f"| {r['label']} | {len(r['seeds'])} | {_cell(r['OA'])} | {_cell(r['AA'])} | {_cell(r['kappa'])} "
          f"| `{r['fingerprint']}` |" for r in rows),
        "",
        f"({describe_split(rows[0]['scene'], rows[0]['split'])}, {rows[0]['train_pixels']:,} / "
        f"{rows[0]['test_pixels']:,} train / test pixels; each row's overrides and the full numbers: `{source}`)",
        QUICK_END,
    ]
    return "\n".join(lines)


def readme_block(text: str, readme: Path) -> tuple[int, int]:
    """(start, end) offsets of the block in `text`, QUICK_END included."""
    start, end = text.find(QUICK_START), text.find(QUICK_END)
    if start < 0 or end < start:
        raise UserError(f"{readme} has no {QUICK_START} ... {QUICK_END} block: add both marker lines around the "
                        "quick-mode table, then rerun.")
    return start, end + len(QUICK_END)


def replace_block(text: str, block: str, readme: Path) -> str:
    start, end = readme_block(text, readme)
    return text[:start] + block + text[end:]
