"""Issue 17.4-17.6: the README's quick comparison block is the tool's own output, and its "Add your own method"
example (network file + variants file) is the one the package accepts."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from mmlgnet.repro import reproduce
from mmlgnet.repro.checks import read_strict_json
from mmlgnet.repro.compare.table import END, REGENERATE, SNAPSHOT, START, render_block
from mmlgnet.repro.compare.variants_file import read_variants_file
from mmlgnet.repro.readme import main as tables_main

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


def test_readme_comparison_block_is_rendered_from_the_committed_snapshot():
    text = README.read_text()
    assert text.count(START) == 1 and text.count(END) == 1
    block = text[text.index(START):text.index(END) + len(END)]
    assert block == render_block(read_strict_json(REPO / SNAPSHOT), SNAPSHOT), \
        f"README comparison block edited by hand? Regenerate: {REGENERATE}"


@pytest.mark.slow
def test_comparison_snapshot_has_the_fingerprints_of_the_current_quick_plan(monkeypatch):
    """If the quick comparison plan changed (overlays, defaults, versions), the README block is stale."""
    snapshot = read_strict_json(REPO / SNAPSHOT)
    command = shlex.split(snapshot["meta"]["command"])
    monkeypatch.chdir(REPO)
    plan = reproduce.plan_of(reproduce.parse_args(command[3:]))
    shown = {(r["setting"], r["variant"]): r["fingerprint"] for r in snapshot["rows"]}
    assert shown == plan.fingerprints(), f"{SNAPSHOT} is stale; regenerate: {REGENERATE}"


def test_tables_cli_renders_the_comparison_block_into_its_markers(tmp_path):
    results = tmp_path / "qb"
    results.mkdir()
    (results / "tables.json").write_text((REPO / SNAPSHOT).read_text())
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{START}\nold\n{END}\noutro\n")
    out = tmp_path / "snap.json"
    assert tables_main([str(results), "--block", "baselines", "--readme", str(readme), "--snapshot", str(out)]) == 0
    assert readme.read_text() == f"intro\n{render_block(read_strict_json(out), str(out))}\noutro\n"
    readme.write_text("no markers\n")
    assert tables_main([str(results), "--block", "baselines", "--readme", str(readme), "--snapshot", str(out)]) == 2


def test_readme_own_method_example_is_accepted(tmp_path, monkeypatch):
    """The README's network file keeps the contract and its variants file reads as the variants it names."""
    from mmlgnet.training.network import build_network

    text = README.read_text()
    section = text[text.index("### Add your own method"):]
    code = re.search(r"```python\n(.*?)```", text[text.index("**Your own network**"):], re.S)
    yml = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert code and yml
    (tmp_path / "mynets.py").write_text(code.group(1))
    (tmp_path / "my-methods.yaml").write_text(yml.group(1))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("mynets", None)
    import mynets  # type: ignore[import-not-found]

    net = build_network(mynets.TinyNet, hsi_bands=8, lidar_bands=1, patch_size=5, out_dim=4)
    assert sum(p.numel() for p in net.parameters()) > 0
    variants = read_variants_file(tmp_path / "my-methods.yaml")
    assert {v.name for vs in variants.values() for v in vs} == {"tinynet", "tinynet-text"}
