"""The split's report at the start of fit: the per-class table in the log, split.npz and split.json in the run folder,
and the split's summary recorded with every result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from mmlgnet.atomic import save_npz, write_json
from mmlgnet.data.scenes.nodata_source import recorded

__all__ = ["report_split", "split_summary"]


def split_summary(dm: Any) -> dict[str, Any]:
    """Protocol facts of datamodule `dm` written next to every result: name, seed, per-class counts of each subset."""
    counts = dm.split.counts(dm.scene.labels, dm.num_classes)
    return {
        "name": dm.split_protocol, "seed": dm.split_seed, "val_fraction": dm.val_fraction,
        "class_names": dm.class_names, "counts": counts,
        "totals": {k: int(sum(v)) for k, v in counts.items()},
        "nodata": recorded(dm.fill_value, dm.nodata_source), "allow_empty_train_classes": dm.allow_empty_train_classes,
        "empty_train_classes": [n for n, c in zip(dm.class_names, counts["train"], strict=True)
                                if c == 0 and n not in dm.unseen_class_names],
        "unseen_classes": dm.unseen_class_names,
    }


def report_split(dm: Any, log_dir: str | None) -> None:
    """Log datamodule `dm`'s split per class, warn about classes without training pixels, and write
    split.npz (the pixel indices) and split.json (dm.split_summary()) into `log_dir` when given."""
    summary = dm.split_summary()
    rows = "\n".join(
        f"  {name:<24} {tr:>7} {va:>7} {te:>8}"
        for name, tr, va, te in zip(dm.class_names, *(summary["counts"][k] for k in ("train", "val", "test")),
                                    strict=True)
    )
    rank_zero_info(
        f"Split {dm.split_protocol!r} (seed {dm.split_seed}) on {dm.scene_name}:\n"
        f"  {'class':<24} {'train':>7} {'val':>7} {'test':>8}\n{rows}\n  totals {summary['totals']}"
    )
    if summary["empty_train_classes"]:
        rank_zero_warn(f"--data.allow_empty_train_classes: no training pixel for {summary['empty_train_classes']}; "
                       f"they are tested but never trained on (recorded in split.json and test_metrics.json).")
    if log_dir:
        sp = dm.split
        save_npz(Path(log_dir) / "split.npz", train=sp.train, val=sp.val, test=sp.test,
                 shape=np.array([dm.scene.height, dm.scene.width]))
        write_json(Path(log_dir) / "split.json", summary)
