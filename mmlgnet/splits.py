"""Train/validation/test pixel splits: the published maps, N per class, or a fraction per class."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from mmlgnet.errors import UserError

SPLIT_HELP = "use 'standard' (published TR/TS maps), 'per_class:N' (e.g. per_class:20) or 'fraction:p' (e.g. fraction:0.05)"


class SplitError(UserError):
    """A split protocol that is malformed or impossible for the scene."""


@dataclass(frozen=True)
class Split:
    """Flat pixel indices (row * W + col) of each subset, sorted, pairwise disjoint.

    `class_of` maps a flat index to its 0-based class through `labels.ravel() - 1`.
    """

    protocol: str
    seed: int
    train: np.ndarray  # (N_train,) int64
    val: np.ndarray  # (N_val,) int64, empty unless val_fraction > 0
    test: np.ndarray  # (N_test,) int64

    def counts(self, labels: np.ndarray, num_classes: int) -> dict[str, list[int]]:
        """Per-class pixel counts of each subset, class order = label order."""
        flat = labels.reshape(-1)
        return {
            name: np.bincount(flat[idx] - 1, minlength=num_classes).tolist()
            for name, idx in (("train", self.train), ("val", self.val), ("test", self.test))
        }


def parse_protocol(protocol: str) -> tuple[str, float]:
    """'standard' -> ('standard', 0); 'per_class:20' -> ('per_class', 20); 'fraction:0.05' -> ('fraction', 0.05)."""
    if protocol == "standard":
        return "standard", 0.0
    m = re.fullmatch(r"(per_class|fraction):([0-9]*\.?[0-9]+)", protocol.strip())
    if not m:
        raise SplitError(f"Unknown split protocol {protocol!r}: {SPLIT_HELP}.")
    kind, value = m.group(1), float(m.group(2))
    if kind == "per_class" and (value != int(value) or value < 1):
        raise SplitError(f"Split {protocol!r}: N must be a positive integer; {SPLIT_HELP}.")
    if kind == "fraction" and not 0.0 < value < 1.0:
        raise SplitError(f"Split {protocol!r}: p must lie strictly between 0 and 1; {SPLIT_HELP}.")
    return kind, value


def make_split(
    labels: np.ndarray,
    class_names: tuple[str, ...] | list[str],
    protocol: str = "standard",
    seed: int = 0,
    train_map: np.ndarray | None = None,
    test_map: np.ndarray | None = None,
    val_fraction: float = 0.0,
) -> Split:
    """Draw the split. labels: (H, W) int, 0 = unlabelled, 1..K.

    The draw is stratified per class with `np.random.default_rng(seed)`, classes in label order, so the
    same (labels, protocol, seed) always gives the same indices. Validation pixels are carved out of the
    training pixels only (never out of the test pixels), stratified by class.
    """
    kind, value = parse_protocol(protocol)
    if not 0.0 <= val_fraction < 1.0:
        raise SplitError(f"val_fraction={val_fraction} must be in [0, 1): the share of training pixels held out.")
    num_classes = len(class_names)
    rng = np.random.default_rng(seed)
    flat = labels.reshape(-1).astype(np.int64)
    if kind == "standard":
        if train_map is None or test_map is None:
            raise SplitError(
                "Split 'standard' needs the published training/test maps TRLabel.mat/TSLabel.mat in the scene "
                "directory, and none were found (MUUFL has no official split; Trento's original layout has only the "
                f"full ground truth allgrd.mat: add TRLabel.mat/TSLabel.mat beside it). Or draw a split: {SPLIT_HELP}."
            )
        train = np.flatnonzero(train_map.reshape(-1) > 0)
        test = np.flatnonzero(test_map.reshape(-1) > 0)
    else:
        train_parts, test_parts = [], []
        for k in range(1, num_classes + 1):
            pixels = np.flatnonzero(flat == k)
            n = len(pixels)
            n_train = int(value) if kind == "per_class" else int(round(value * n))
            if n_train < 1 or n_train >= n:
                raise SplitError(
                    f"Split {protocol!r} is impossible for class {k} ({class_names[k - 1]!r}): it has {n} labelled "
                    f"pixels and the protocol asks for {n_train} training pixels, leaving {n - n_train} for testing. "
                    f"Use a smaller N / p (every class needs at least 1 training and 1 test pixel)."
                )
            chosen = rng.permutation(pixels)
            train_parts.append(chosen[:n_train])
            test_parts.append(chosen[n_train:])
        train, test = np.concatenate(train_parts), np.concatenate(test_parts)
    val = np.empty(0, dtype=np.int64)
    if val_fraction > 0:
        keep, held = [], []
        for k in range(1, num_classes + 1):
            pixels = rng.permutation(train[flat[train] == k])
            n_val = int(round(val_fraction * len(pixels)))
            if len(pixels) and n_val >= len(pixels):
                raise SplitError(
                    f"val_fraction={val_fraction} leaves class {k} ({class_names[k - 1]!r}) with no training pixel "
                    f"({len(pixels)} available): lower --data.val_fraction."
                )
            held.append(pixels[:n_val])
            keep.append(pixels[n_val:])
        train, val = np.concatenate(keep), np.concatenate(held)
    return Split(protocol, seed, np.sort(train), np.sort(val), np.sort(test))
