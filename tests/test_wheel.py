"""The package works installed, outside the checkout: the wheel's files, its console script, a fit and the quick
reproduction run from an empty folder with only the installed wheel importable.

The wheel is built from a copy of the sources (pyproject.toml, README.md, mmlgnet/), so the build leaves nothing
in the checkout (setuptools writes build/ and *.egg-info beside the sources); offline (no build isolation).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from mmlgnet.repro.checks import metrics_problems

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "mmlgnet"
#: folders whose every file must ship (package data): configs, description sets, CLIP configs, published numbers
DATA_FOLDERS = ("configs", "text/descriptions", "text/clip_configs", "repro/compare")
TIMEOUT_S = 600


def _sh(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _build_and_install(tmp: Path) -> tuple[Path, Path]:
    """(the wheel, the folder it is installed into with `pip install --target`)."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(PACKAGE, src / "mmlgnet", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _sh([*pip, "wheel", str(src), "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(tmp / "dist")], tmp)
    (wheel,) = (tmp / "dist").glob("mmlgnet-*.whl")
    _sh([*pip, "install", "--no-deps", "--no-index", "-q", "--target", str(tmp / "site"), str(wheel)], tmp)
    return wheel, tmp / "site"


def _environment(site: Path, tmp: Path) -> dict[str, str]:
    """This environment with ONLY the installed wheel on PYTHONPATH (the checkout is not importable from cwd)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(PYTHONPATH=str(site), HF_HUB_OFFLINE="1", WANDB_MODE="offline", WANDB_SILENT="true",
               MMLGNET_CACHE=str(tmp / "cache"), PYTHONDONTWRITEBYTECODE="1")
    return env


@pytest.mark.slow
def test_the_installed_wheel_runs_shipped_configs_and_the_quick_reproduction(tmp_path: Path):
    wheel, site = _build_and_install(tmp_path)

    # the wheel's files: every package-data file (a file the globs of pyproject.toml miss fails here) and the script
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in DATA_FOLDERS:
        for path in (PACKAGE / folder).rglob("*"):
            if path.is_file() and path.suffix != ".pyc" and "__pycache__" not in path.parts:
                assert path.relative_to(REPO).as_posix() in names, f"{path} is not in the wheel: add it to package-data"
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[console_scripts]" in scripts and "mmlgnet = mmlgnet.cli:run" in scripts
    script = site / "bin" / "mmlgnet"
    assert script.is_file()

    work = tmp_path / "work"
    work.mkdir()
    env = _environment(site, tmp_path)
    where = _sh([sys.executable, "-c", "import mmlgnet.configs; print(mmlgnet.__file__)"], work, env).strip()
    assert Path(where).is_relative_to(site), f"mmlgnet imported from {where}, not from the installed wheel"

    # 1. the console script, shipped configs by name: a seconds-long fit + test of the synthetic demo scene
    _sh([str(script), "fit", "--config", "demo.yaml", "--config", "overlays/debug.yaml"], work, env)
    (run_dir,) = (work / "runs" / "debug").iterdir()
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert metrics_problems(run_dir / "test_metrics.json", "synthetic", cfg["data"]["split"],
                            cfg["seed_everything"]) == []
    metrics = json.loads((run_dir / "test_metrics.json").read_text())
    assert all(0 <= metrics[k] <= 100 for k in ("OA", "AA"))

    # 2. the quick reproduction (its configs are the package's), one run, through `python -m mmlgnet` in a child
    args = ["--quick", "--no-wandb", "--variants", "mmlgnet", "--seeds", "1", "--epochs", "1", "--results", "R"]
    _sh([sys.executable, "-m", "mmlgnet.reproduce", *args, "--launcher", "subprocess"], work, env)
    run = work / "R" / "synthetic-quick" / "mmlgnet" / "seed0"
    assert metrics_problems(run / "test_metrics.json", "synthetic", "per_class:20", 0) == []
    record = json.loads((run / "run.json").read_text())
    assert (record["status"], record["launcher"]) == ("done", "subprocess")
    assert (run / "maps").is_dir()
    tables = json.loads((work / "R" / "tables.json").read_text())
    assert tables["meta"]["n_runs"] == 1 and (work / "R" / "tables.md").is_file()
    assert not (work / "data").exists() and not (work / "configs").exists()

    # the same run as from the checkout: the wheel's configs resolve to the checkout's fingerprint
    from mmlgnet.repro.reproduce import parse_args, plan_of

    (planned,) = plan_of(parse_args([*args[:-1], str(tmp_path / "R-checkout")])).runs
    assert json.loads((run / "fingerprint.json").read_text())["sha256"] == planned.fingerprint.full
