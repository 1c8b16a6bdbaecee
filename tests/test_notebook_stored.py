"""notebooks/walkthrough.ipynb is stored EXECUTED (a reader on the web sees its figures), from its current cells.

`make notebook` (scripts/execute_notebook.py) executes it and records the sha256 of each code cell's source in the
notebook's metadata; a cell edited afterwards without re-executing fails here. tests/test_notebook.py (slow)
executes a copy again to check that the cells still run.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "walkthrough.ipynb"
REGENERATE = "run `make notebook` and commit notebooks/walkthrough.ipynb"
MAX_BYTES = 1_500_000  # reviewable: PNGs at a modest dpi


def _code_cells() -> list[nbformat.NotebookNode]:
    return [c for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code"]


def test_stored_notebook_outputs_come_from_its_current_cells() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = _code_cells()
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1)), f"not executed in order: {REGENERATE}"
    executed = nb.metadata.get("mmlgnet", {}).get("code_cells_sha256")
    current = [hashlib.sha256(c.source.encode()).hexdigest() for c in cells]
    assert executed == current, f"code cells changed since the outputs were made: {REGENERATE}"
    assert nb.metadata["mmlgnet"]["environment"]["MMLGNET_SCENE"] == "synthetic"
    assert not [o for c in cells for o in c.outputs if o.output_type == "error"]


def test_stored_notebook_shows_its_figures_and_results() -> None:
    cells = _code_cells()
    images = [o for c in cells for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 5, REGENERATE  # scene panel, training curves, prompt similarity, maps, confusion
    text = "".join(o.get("text", "") for c in cells for o in c.outputs)
    assert "scene: synthetic" in text and "test OA" in text and "all-MiniLM-L6-v2" in text


def test_stored_notebook_is_small_and_has_nothing_of_the_machine_that_ran_it() -> None:
    assert NOTEBOOK.stat().st_size < MAX_BYTES
    outputs = json.dumps([c.outputs for c in _code_cells()])
    for private in ("/tmp/", "/work/", "/home/", "/root", ".venv"):
        assert private not in outputs, private
    assert not re.search(r" at 0x[0-9a-f]+", outputs)  # an object's repr: changes on every run
    assert all("execution" not in c.metadata for c in _code_cells())  # no per-cell timings
