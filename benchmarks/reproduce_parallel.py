"""Wall time of the quick reproduction run one at a time, N at once (`--jobs N`) and through SLURM.

    python benchmarks/reproduce_parallel.py [--seeds 1] [--variants mmlgnet lidar_only] [--epochs 3] [--jobs 2]

Each mode runs the same command in a fresh results folder (nothing reused) as a child process and is timed from
start to exit (planning included); the per-run wall times come from the runs' run.json. The SLURM mode needs a
cluster (scripts/slurm_localhost.sh) and is left out, saying why, without one. Prints a Markdown table; the
numbers are in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(argv: list[str], results: Path) -> tuple[float, list[float], str]:
    """(wall s of the command, wall s of each run, problem or '')."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "mmlgnet.reproduce", *argv, "--results", str(results)], cwd=REPO,
                         env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    runs = [float(json.loads(p.read_text()).get("wall_s") or 0) for p in sorted(results.glob("*/*/seed*/run.json"))]
    return wall, runs, "" if out.returncode == 0 else f"exit {out.returncode}: {out.stderr.strip()[-300:]}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="1")
    p.add_argument("--variants", nargs="+", default=["mmlgnet", "lidar_only"])
    p.add_argument("--epochs", default="3")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--modes", nargs="+", default=["jobs1", "jobsN", "slurm"], choices=["jobs1", "jobsN", "slurm"])
    args = p.parse_args()
    base = ["--quick", "--seeds", args.seeds, "--variants", *args.variants, "--epochs", args.epochs, "--maps", "none",
            "--no-wandb"]
    modes = {"jobs1": ["--jobs", "1", "--launcher", "subprocess"], "jobsN": ["--jobs", str(args.jobs)],
             "slurm": ["--launcher", "slurm", "--slurm-time", "60"]}
    print(f"command: python -m mmlgnet.reproduce {' '.join(base)} <mode>  ({len(os.sched_getaffinity(0))} cores)")
    print("| mode | options | command wall s | runs' wall s | status |\n|---|---|---|---|---|")
    for mode in args.modes:
        if mode == "slurm" and shutil.which("sbatch") is None:
            print(f"| {mode} | {' '.join(modes[mode])} | – | – | skipped: no sbatch (scripts/slurm_localhost.sh) |")
            continue
        with tempfile.TemporaryDirectory(prefix=f"repro-{mode}-") as tmp:
            wall, runs, problem = timed([*base, *modes[mode]], Path(tmp) / "results")
        print(f"| {mode} | {' '.join(modes[mode])} | {wall:.1f} | {', '.join(f'{r:.1f}' for r in runs)} | "
              f"{problem or 'ok'} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
