"""notebooks/walkthrough.ipynb runs end to end on the synthetic scene with this interpreter's kernel (a copy: the
stored, executed notebook is checked by tests/test_notebook_stored.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # a Jupyter kernel and a 5-epoch fit: `make test-all` only


def test_walkthrough_notebook_executes(tmp_path, monkeypatch):
    # A kernelspec pointing at this interpreter (.venv), found through JUPYTER_PATH: no user-level install.
    spec = tmp_path / "jupyter" / "kernels" / "mmlgnet-venv"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "mmlgnet (.venv)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MMLGNET_SCENE", "synthetic")
    monkeypatch.setenv("MMLGNET_EPOCHS", "5")
    monkeypatch.setenv("MMLGNET_RUNS", str(tmp_path / "runs"))
    stored = (REPO / "notebooks" / "walkthrough.ipynb").read_bytes()  # executed by `make notebook`
    nb = nbformat.reads(stored.decode(), as_version=4)
    for cell in nb.cells:  # run from scratch: the stored outputs must not count
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    NotebookClient(nb, timeout=240, kernel_name="mmlgnet-venv", resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert (REPO / "notebooks" / "walkthrough.ipynb").read_bytes() == stored  # a copy ran: the stored file is untouched
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) >= 5  # scene panel, training curves, prompt similarity, maps, confusion
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "scene: synthetic" in text and "test OA" in text
    assert (next((tmp_path / "runs").rglob("maps")) / "prediction.npy").is_file()
