"""Checkpoint checks: readable before use, trained, and consistent with the model options given beside it."""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from mmlgnet.errors import CheckpointError, UntrainedModelError
from mmlgnet.training import optim

# Lightning's special `ckpt_path` values (resolved by the Trainer, not files): passed through untouched.
LIGHTNING_KEYWORDS = ("last", "best", "hpc")

# Model options that may differ from the checkpoint's without an error: they do not change the weights
# being tested (optimisation only; a resumed fit restores the optimiser and scheduler state from the
# checkpoint anyway) or only say where a cache lives. LightningCLI replaces them by the checkpoint's values.
EXEMPT_OPTIONS = frozenset({*optim.OPTION_NAMES, "augment", "text_cache_dir"})  # training-only: every optimiser option

# Values the CLI links from the datamodule (never given by the user): compared with the data when the
# checkpoint's weights are loaded (MMLGNetModule.on_load_checkpoint), where the data is known.
DATA_LINKED = ("num_classes", "class_names", "hsi_channels", "lidar_channels", "scene_name", "class_descriptions")
DATA_CHECKED = ("num_classes", "class_names", "hsi_channels", "lidar_channels")

_FIX = ("Point --ckpt_path at a checkpoint written by a finished `python -m mmlgnet fit` (e.g. "
        "<run dir>/checkpoints/last.ckpt), or re-run fit to write a new one.")


# How to go on from a refused untrained model (the CLI's and the module's guards, and a fit without a step).
ALLOW_UNTRAINED = "--allow_untrained true to go on anyway (debugging; recorded as allow_untrained: true in the results)"


def untrained_error(action: str, ckpt_path: object = None) -> UntrainedModelError:
    """The one message of a test/predict that would record an untrained model: no --ckpt_path (and no training step
    in this process), or a checkpoint saved before any training step. The CLI raises it before anything is built,
    MMLGNetModule.require_trained again when the loop starts (Python API)."""
    if ckpt_path is None:
        why = (f"{action} needs --ckpt_path: none was given and no training step ran in this process, so the model "
               f"has random weights and its {action} results would mean nothing")
    else:
        why = (f"--ckpt_path {ckpt_path} was saved before any training step (global_step 0): its {action} results "
               "would be those of random weights")
    return UntrainedModelError(f"{why}. Pass --ckpt_path with the checkpoint of a fit that trained (e.g. <run dir>/"
                               f"checkpoints/last.ckpt after max_epochs >= 1), or {ALLOW_UNTRAINED}.")


def is_lightning_keyword(ckpt_path: str | Path) -> bool:
    """True for `last`/`best`/`hpc`/`registry...` when no file of that name exists: the Trainer resolves those."""
    text = str(ckpt_path)
    return (text in LIGHTNING_KEYWORDS or text.startswith("registry")) and not Path(text).exists()


def read_checkpoint(ckpt_path: str | Path) -> dict[str, Any]:
    """Load a Lightning checkpoint (weights only, on the CPU) or raise CheckpointError naming the file.

    Catches what torch.load raises on a missing, empty, truncated, random or non-checkpoint file
    (FileNotFoundError, EOFError, RuntimeError, UnpicklingError, BadZipFile, ...), so the user sees the
    path, what was expected and how to fix it instead of a bare EOFError.
    """
    path = Path(ckpt_path)
    if not path.exists():
        raise CheckpointError(f"--ckpt_path {path}: no such file. {_FIX}")
    if path.is_dir():
        files = [*path.glob("*.ckpt"), *path.glob("checkpoints/*.ckpt")]  # a checkpoints dir or a run dir
        inside = sorted(str(p.relative_to(path)) for p in files)[:5]
        hint = f" It holds: {', '.join(inside)}." if inside else " It holds no .ckpt file."
        raise CheckpointError(f"--ckpt_path {path} is a directory, not a checkpoint file.{hint} {_FIX}")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"--ckpt_path {path} is empty (0 bytes), not a readable Lightning checkpoint "
                              f"(an interrupted save or copy?). {_FIX}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, EOFError, RuntimeError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile,
            AttributeError, ImportError, IndexError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()[0].split(". ")[0] if str(e).strip() else ""
        reason = f"{type(e).__name__}: {first}" if first else type(e).__name__
        raise CheckpointError(
            f"--ckpt_path {path} ({size} bytes) is not a readable Lightning checkpoint: torch.load failed "
            f"({reason}). The file may be truncated (an interrupted save or copy) or not a checkpoint at all. {_FIX}"
        ) from e
    if not isinstance(ckpt, Mapping) or "state_dict" not in ckpt:
        found = f"keys {sorted(map(str, ckpt))[:8]}" if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise CheckpointError(f"--ckpt_path {path} is not a Lightning checkpoint: expected a dict with "
                              f"'state_dict', found {found}. {_FIX}")
    return dict(ckpt)


class HeldCheckpoint:
    """A --ckpt_path read once (read_checkpoint) and handed on: LightningCLI's hyperparameter parse and the
    Trainer's restore (through the CLI's checkpoint IO) take this dict instead of loading the file again.

    `take` gives the dict once, and only for the same file unchanged since it was read (path, size, mtime, inode);
    anything else (another checkpoint, e.g. test_after_fit's last.ckpt) is read as usual.
    """

    def __init__(self, ckpt_path: str | Path) -> None:
        self.path = Path(ckpt_path)
        self._stamp = _stamp(self.path)
        self.ckpt: dict[str, Any] | None = read_checkpoint(self.path)

    def take(self, path: str | Path) -> dict[str, Any] | None:
        """The held checkpoint when `path` is the file it was read from and unchanged, once; else None."""
        same = self.ckpt is not None and Path(path).resolve() == self.path.resolve() and _stamp(Path(path)) == self._stamp
        ckpt, self.ckpt = (self.ckpt, None) if same else (None, self.ckpt)
        return ckpt


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ino


def trained_state(ckpt: Mapping[str, Any]) -> dict[str, int]:
    """{"global_step": optimiser steps taken, "epochs": epochs completed} as recorded in a Lightning checkpoint."""
    return {"global_step": int(ckpt.get("global_step", 0) or 0), "epochs": int(ckpt.get("epoch", 0) or 0)}


def plain(value: Any) -> Any:
    """A config value as plain JSON-like data (tuples -> lists, Namespaces/mappings -> dicts) for comparison."""
    if hasattr(value, "as_dict"):
        value = value.as_dict()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def option_differences(given: Mapping[str, Any], saved: Mapping[str, Any], prefix: str = "--model.") -> list[str]:
    """One line per option the user gave whose value differs from the checkpoint's hyperparameter.

    `given` holds only the options set explicitly (command line or config file), `saved` the checkpoint's
    hyper_parameters. Exempt and data-linked options are skipped, and so are options the checkpoint does
    not record (an older checkpoint: nothing to compare, the given value is used).
    """
    lines = []
    for key, value in given.items():
        if key in EXEMPT_OPTIONS or key in DATA_LINKED or key.startswith("_") or key not in saved:
            continue
        mine, theirs = plain(value), plain(saved[key])
        if mine != theirs:
            lines.append(f"  {prefix}{key}: checkpoint {theirs!r} vs given {mine!r}")
    return lines


def check_options(ckpt_path: str | Path, given: Mapping[str, Any], saved: Mapping[str, Any]) -> None:
    """Raise CheckpointError listing each given model option that contradicts the checkpoint's hyperparameters."""
    lines = option_differences(given, saved)
    if lines:
        raise CheckpointError(
            f"--ckpt_path {ckpt_path} was trained with other model options than the ones given (command line or "
            "config); LightningCLI would silently use the checkpoint's values:\n" + "\n".join(lines) +
            "\nDrop these options (or give the checkpoint's values) to test the checkpoint as it was trained, "
            "or point --ckpt_path at a checkpoint trained with the options you want. "
            f"(Options that may differ: {', '.join(sorted(EXEMPT_OPTIONS))}.)"
        )


def data_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Lines for each data-decided value (classes, band counts) where the checkpoint and the data given differ."""
    lines = []
    for key in DATA_CHECKED:
        if key in saved and key in current and plain(saved[key]) != plain(current[key]):
            lines.append(f"  {key}: checkpoint {plain(saved[key])!r} vs data {plain(current[key])!r}")
    return lines
