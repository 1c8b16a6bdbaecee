"""The README's quick-mode table: rendered from a reproduce run's tables.json, never written by hand.

`python -m mmlgnet.tables RESULTS --readme README.md --snapshot docs/quick-tables.json` copies
RESULTS/tables.json to the snapshot and replaces the README text between QUICK_START and QUICK_END with
`render_block(snapshot)`. A test renders the committed snapshot and compares it with the README byte for byte.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from mmlgnet.atomic import write_bytes, write_json
from mmlgnet.errors import UserError
from mmlgnet.repro.checks import read_strict_json
from mmlgnet.repro.compare import table as compare
from mmlgnet.repro.group_tables import in_group_tables, markdown

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
    hidden = in_group_tables(meta)  # text / prompts / open-vocabulary variants: their own tables below
    rows = [r for r in rows if r["variant"] not in hidden]
    if not rows:
        raise UserError(f"{source} has no table rows: run the quick mode first ({REGENERATE}).")
    versions = meta.get("versions") or {}
    lines = [
        QUICK_START,
        f"<!-- generated from {source}; do not edit by hand. Regenerate: {REGENERATE} -->",
        # no wall time: it measures the machine's load as much as the code (it is in the snapshot's meta)
        f"Produced by `{meta.get('command', '?')}` ({meta.get('n_runs', '?')} runs) on {meta.get('machine', '?')} "
        f"with mmlgnet {versions.get('mmlgnet', '?')}, torch {versions.get('torch', '?')}:",
        "",
        "| variant | seeds | OA | AA | κ | fingerprint |",
        "|---|---|---|---|---|---|",
        *(f"| {r['label']} | {len(r['seeds'])} | {_cell(r['OA'])} | {_cell(r['AA'])} | {_cell(r['kappa'])} "
          f"| `{r['fingerprint']}` |" for r in rows),
        "",
        f"({describe_split(rows[0]['scene'], rows[0]['split'])}, {rows[0]['train_pixels']:,} / "
        f"{rows[0]['test_pixels']:,} train / test pixels; each row's overrides and the full numbers: `{source}`)",
        *(["", *(line.replace("## ", "**", 1) + "**" if line.startswith("## ") else line
                 for line in markdown(snapshot.get("groups") or []))][:-1] if snapshot.get("groups") else []),
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


def main(argv: list[str] | None = None) -> int:
    """`python -m mmlgnet.tables RESULTS --readme README.md`: the README's quick-mode block from RESULTS/tables.json."""
    p = argparse.ArgumentParser(prog="python -m mmlgnet.tables", description=main.__doc__)
    p.add_argument("results", type=Path, help="results folder of a `python -m mmlgnet.reproduce --quick` run")
    p.add_argument("--readme", type=Path, help="replace the quick-table block of this file (else print the block)")
    p.add_argument("--snapshot", type=Path, default=None,
                   help=f"with --readme: keep a copy of the tables.json the block is rendered from here (default "
                   f"{SNAPSHOT}; with --block baselines {compare.SNAPSHOT})")
    p.add_argument("--block", choices=["main", "baselines"], default="main",
                   help="main: the quick table (main and text groups); baselines: the quick comparison of methods "
                   f"(between {compare.START} and {compare.END})")
    args = p.parse_args(argv)
    if args.block == "baselines":
        return _comparison(args)
    args.snapshot = args.snapshot or Path(SNAPSHOT)
    source = args.results / "tables.json"
    try:
        try:
            snapshot = read_strict_json(source)
        except (OSError, ValueError) as e:
            raise UserError(f"cannot read {source} ({e}): run `python -m mmlgnet.reproduce --quick --results "
                            f"{args.results}` first (it writes tables.json).") from None
        if not (snapshot.get("meta") or {}).get("quick"):
            raise UserError(f"{source} is not from a --quick run: the README block shows the quick mode only.")
        block = render_block(snapshot, str(args.snapshot))
        if args.readme is None:
            print(block)
            return 0
        text = args.readme.read_text()
        write_json(args.snapshot, snapshot)
        write_bytes(args.readme, replace_block(text, block, args.readme).encode())
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"[tables] {args.readme}: quick-table block rendered from {args.snapshot}")
    return 0



def _comparison(args: argparse.Namespace) -> int:
    """`--block baselines`: the README's quick comparison block (mmlgnet.repro.compare.table.render_block)."""
    source = args.results / "tables.json"
    snapshot_path = args.snapshot or Path(compare.SNAPSHOT)
    try:
        try:
            snapshot = read_strict_json(source)
        except (OSError, ValueError) as e:
            raise UserError(f"cannot read {source} ({e}): run `{compare.REGENERATE.split(' && ')[0]}` first.") from None
        if not (snapshot.get("meta") or {}).get("quick"):
            raise UserError(f"{source} is not from a --quick run: the README block shows the quick mode only.")
        block = compare.render_block(snapshot, str(snapshot_path))
        if args.readme is None:
            print(block)
            return 0
        text = args.readme.read_text()
        start, end = text.find(compare.START), text.find(compare.END)
        if start < 0 or end < start:
            raise UserError(f"{args.readme} has no {compare.START} ... {compare.END} block: add both marker lines "
                            "where the comparison table goes, then rerun.")
        write_json(snapshot_path, snapshot)
        write_bytes(args.readme, (text[:start] + block + text[end + len(compare.END):]).encode())
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"[tables] {args.readme}: comparison block rendered from {snapshot_path}")
    return 0
