"""Execute notebooks/walkthrough.ipynb with this interpreter and store it WITH its outputs (`make notebook`).

The stored notebook is what a reader sees on the web (figures as PNG), so it is executed on the synthetic scene
(`MMLGNET_SCENE=synthetic`, `MMLGNET_EPOCHS`, default 15 = the notebook's own default), offline, in a temporary
folder (its runs are thrown away; no path of this machine is printed), without per-cell timings. The sha256 of each
code cell's source as executed goes into the notebook's metadata (`mmlgnet.code_cells_sha256`), so that
tests/test_notebook_stored.py can tell when a cell was edited after the outputs were made.

    python scripts/execute_notebook.py [NOTEBOOK] [--epochs N]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
KERNEL = "mmlgnet-venv"


def code_digests(nb: nbformat.NotebookNode) -> list[str]:
    """sha256 of each code cell's source, in order."""
    return [hashlib.sha256(c.source.encode()).hexdigest() for c in nb.cells if c.cell_type == "code"]


def _find_all(text: str, part: str) -> list[int]:
    found, at = [], text.find(part)
    while at >= 0:
        found.append(at)
        at = text.find(part, at + 1)
    return found


def execute(path: Path, epochs: int) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    kernelspec = copy.deepcopy(nb.metadata.get("kernelspec"))
    with tempfile.TemporaryDirectory(prefix="mmlgnet-notebook-") as tmp:
        spec = Path(tmp) / "jupyter" / "kernels" / KERNEL  # this interpreter's kernel, no user-level install
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "mmlgnet (.venv)", "language": "python"}))
        work = Path(tmp) / "work"
        work.mkdir()
        os.environ.update({"JUPYTER_PATH": str(Path(tmp) / "jupyter"), "MMLGNET_SCENE": "synthetic",
                           "MMLGNET_EPOCHS": str(epochs), "HF_HUB_OFFLINE": "1",
                           "MMLGNET_CACHE": str(Path(tmp) / "cache")})
        os.environ.pop("MMLGNET_RUNS", None)  # runs/ relative to the working folder: printed as a relative path
        os.environ.pop("WANDB_MODE", None)  # unused here; set, transformers prints "Running in WANDB offline mode"
        NotebookClient(nb, timeout=600, kernel_name=KERNEL, record_timing=False,
                       resources={"metadata": {"path": str(work)}}).execute()
        text = json.dumps([c.get("outputs", []) for c in nb.cells])
        for private in (tmp, str(REPO), os.path.expanduser("~")):
            shown = [text[max(0, at - 150):at + 150] for at in _find_all(text, private)]
            if shown:
                raise SystemExit(f"error: outputs of {path} show the path {private}: make those cells print relative "
                                 f"paths (or silence those warnings), then run this again: {shown[:5]}")
    if kernelspec is not None:
        nb.metadata["kernelspec"] = kernelspec  # the stored, generic kernel (not this run's temporary one)
    nb.metadata["mmlgnet"] = {
        "executed_by": f"make notebook (python scripts/execute_notebook.py --epochs {epochs})",
        "environment": {"MMLGNET_SCENE": "synthetic", "MMLGNET_EPOCHS": str(epochs)},
        "code_cells_sha256": code_digests(nb),
    }
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", nargs="?", type=Path, default=REPO / "notebooks" / "walkthrough.ipynb")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args(argv)
    nb = execute(args.notebook, args.epochs)
    nbformat.validate(nb)
    tmp = args.notebook.with_name(f".{args.notebook.name}.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, args.notebook)
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    print(f"{args.notebook}: executed ({images} figures), {args.notebook.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
