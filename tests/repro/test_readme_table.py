"""The README's quick-mode table is the tool's own output: rendered from a committed tables.json, current plan."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from mmlgnet.repro import reproduce
from mmlgnet.repro.checks import read_strict_json
from mmlgnet.repro.readme import QUICK_END, QUICK_START, REGENERATE, SNAPSHOT, readme_block, render_block
from mmlgnet.repro.readme import main as tables_main  # python -m mmlgnet.tables

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


def test_readme_quick_block_is_rendered_from_the_committed_snapshot():
    text = README.read_text()
    start, end = readme_block(text, README)
    snapshot = read_strict_json(REPO / SNAPSHOT)
    assert text[start:end] == render_block(snapshot, SNAPSHOT), f"README block edited by hand? Regenerate: {REGENERATE}"
    assert text.count(QUICK_START) == 1 and text.count(QUICK_END) == 1


def test_readme_snapshot_has_the_fingerprints_of_the_current_quick_plan(monkeypatch):
    """If the quick plan changed (configs, defaults, package or torch version), the README numbers are stale."""
    snapshot = read_strict_json(REPO / SNAPSHOT)
    command = shlex.split(snapshot["meta"]["command"])
    assert command[:3] == ["python", "-m", "mmlgnet.reproduce"] and "--quick" in command
    monkeypatch.chdir(REPO)
    plan = reproduce.plan_of(reproduce.parse_args(command[3:]))
    shown = {(r["setting"], r["variant"]): r["fingerprint"] for r in snapshot["rows"]}
    assert shown == plan.fingerprints(), (
        f"The quick plan's fingerprints changed since {SNAPSHOT} was made: the README's quick table is stale. "
        f"Regenerate it with: {REGENERATE}")
    assert all(len(r["seeds"]) == len({run.seed for run in plan.runs}) for r in snapshot["rows"])


def test_tables_cli_replaces_only_the_block(tmp_path, capsys):
    snapshot = read_strict_json(REPO / SNAPSHOT)
    results = tmp_path / "q"
    results.mkdir()
    (results / "tables.json").write_text((REPO / SNAPSHOT).read_text())
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{QUICK_START}\nold hand-made table\n{QUICK_END}\noutro\n")
    out = tmp_path / "docs" / "snap.json"
    assert tables_main([str(results), "--readme", str(readme), "--snapshot", str(out)]) == 0
    assert readme.read_text() == f"intro\n{render_block(snapshot, str(out))}\noutro\n"
    assert read_strict_json(out) == snapshot

    readme.write_text("no markers\n")
    assert tables_main([str(results), "--readme", str(readme), "--snapshot", str(out)]) == 2
    assert QUICK_START in capsys.readouterr().err and readme.read_text() == "no markers\n"
    assert tables_main([str(tmp_path / "nothing")]) == 2
    assert "python -m mmlgnet.reproduce --quick" in capsys.readouterr().err
    done = subprocess.run([sys.executable, "-m", "mmlgnet.tables", str(results)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == render_block(snapshot, SNAPSHOT) + "\n"


def test_block_shows_the_group_tables_and_keeps_their_variants_out_of_the_main_table():
    row = {"setting": "synthetic-quick", "scene": "synthetic", "split": "per_class:20", "seeds": [0, 1],
           "OA": [90.0, 1.0], "AA": [91.0, 1.0], "kappa": [88.0, 1.0], "train_pixels": 120, "test_pixels": 4148}
    snapshot = {
        "meta": {"command": "python -m mmlgnet.reproduce --quick", "groups": {
            "main": {"synthetic-quick": ["mmlgnet", "linear"]},
            "text": {"synthetic-quick": ["text-untrained", "text-remoteclip", "text-minilm", "linear"]}}},
        "rows": [{**row, "variant": v, "label": v, "fingerprint": f"fp-{v}"} for v in ("mmlgnet", "linear", "text-minilm")],
        "groups": [
            {"group": "text", "setting": "synthetic-quick", "variant": "text-untrained", "label": "untrained CLIP text tower",
             "status": "done", "runs_of": "mmlgnet", "fingerprint": "fp-mmlgnet", "seeds": [0, 1], "text": "open_clip t (untrained)",
             "OA": [90.0, 1.0], "AA": [91.0, 1.0], "kappa": [88.0, 1.0]},
            {"group": "text", "setting": "synthetic-quick", "variant": "text-remoteclip", "label": "RemoteCLIP",
             "status": "absent", "reason": "needs remoteclip CLIP weights"}],
    }
    block = render_block(snapshot)
    main = block.split("**What the text encoder adds")[0]
    assert "| mmlgnet |" in main and "| linear |" in main and "text-minilm" not in main
    assert "**What the text encoder adds, synthetic-quick**" in block
    assert "| untrained CLIP text tower (= mmlgnet) | open_clip t (untrained) | 2 | 90.00 ± 1.00" in block
    assert "| RemoteCLIP | absent: needs remoteclip CLIP weights |" in block
    assert block.endswith(QUICK_END) and "\n\n" + QUICK_END not in block
