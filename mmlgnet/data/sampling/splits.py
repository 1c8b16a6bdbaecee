"""Train/validation/test pixel splits: the published maps, N per class, or a fraction per class."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np

from mmlgnet.errors import UserError

SPLIT_HELP = "use 'standard' (published TR/TS maps), 'per_class:N' (e.g. per_class:20) or 'fraction:p' (e.g. fraction:0.05)"


class SplitError(UserError):
    """A split protocol that is malformed or impossible for the scene."""


@dataclass(frozen=True)
class Split:
    """Flat pixel indices (row * W + col) of each subset, sorted, pairwise disjoint.

    `class_of` maps a flat index to its 0-based class through `labels.ravel() - 1`. `unseen`: the 0-based
    classes held out of train/val (--data.unseen_classes); their pixels are only ever in `test`.
    """

    protocol: str
    seed: int
    train: np.ndarray  # (N_train,) int64
    val: np.ndarray  # (N_val,) int64, empty unless val_fraction > 0
    test: np.ndarray  # (N_test,) int64
    unseen: tuple[int, ...] = ()

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
        raise SplitError(f"--data.split {protocol!r} is not a split protocol: {SPLIT_HELP}.")
    kind, value = m.group(1), float(m.group(2))
    if kind == "per_class" and (value != int(value) or value < 1):
        raise SplitError(f"--data.split {protocol!r}: N must be a positive integer; {SPLIT_HELP}.")
    if kind == "fraction" and not 0.0 < value < 1.0:
        raise SplitError(f"--data.split {protocol!r}: p must lie strictly between 0 and 1; {SPLIT_HELP}.")
    return kind, value


def check_val_fraction(val_fraction: float) -> float:
    """Validate the share of training pixels held out for validation: 0 <= v < 1."""
    if not 0.0 <= val_fraction < 1.0:
        raise SplitError(f"--data.val_fraction {val_fraction}: expected a share of the training pixels in [0, 1) "
                         f"(0 = no validation set), e.g. --data.val_fraction 0.1.")
    return val_fraction


def _n_val(val_fraction: float, n: int) -> int:
    return int(round(val_fraction * n))  # round half to even, as every split so far was drawn


def smallest_val_fraction(train_counts: list[int]) -> float | None:
    """The smallest val_fraction (in steps of 0.001) that holds out >= 1 pixel of every class with >= 2
    training pixels and keeps >= 1 for training; None when no class has 2 training pixels."""
    counts = [n for n in train_counts if n >= 2]
    if not counts:
        return None
    v = np.ceil(500.0 / min(counts)) / 1000.0  # ~0.5 / n_min, rounded up to 0.001
    while not all(1 <= _n_val(v, n) < n for n in counts):
        v = round(v + 0.001, 3)
    return float(v)


def _empty_class_error(k: int, name: str, where: str, n_test: int) -> SplitError:
    return SplitError(
        f"{where}: class {k} ({name!r}) has no training pixel ({n_test} test pixel(s)). Training would never see "
        f"it, and its text embedding would only ever appear as a negative. To hold it out on purpose (open-"
        f"vocabulary, zero-shot evaluation: training never sees its pixels nor its prompt, test scores all "
        f"classes and reports seen/unseen accuracy), pass --data.unseen_classes '[{name}]'. To train and test "
        f"anyway, pass --data.allow_empty_train_classes true (its test pixels still count in OA/AA); otherwise use "
        f"split maps, or a protocol, that give every class training pixels ({SPLIT_HELP})."
    )


def _carve_validation(
    train: np.ndarray, flat: np.ndarray, class_names: tuple[str, ...] | list[str], val_fraction: float,
    rng: np.random.Generator, held_out: set[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out round(val_fraction * n_k) of each class's n_k training pixels; returns (train, val).

    A val_fraction > 0 that holds out no pixel at all is an error (validation would silently be off); one
    that misses some classes is a warning naming them. Both name the smallest value that gives every class
    a validation pixel. Classes in `held_out` (label values) are drawn the same way (their pixels are dropped
    afterwards) but never cause an error or a warning.
    """
    held_out = held_out or set()
    keep, held, missed, n_seen_val = [], [], [], 0
    counts = [int((flat[train] == k).sum()) for k in range(1, len(class_names) + 1) if k not in held_out]
    for k in range(1, len(class_names) + 1):
        pixels = rng.permutation(train[flat[train] == k])
        n_val = _n_val(val_fraction, len(pixels))
        if len(pixels) and n_val >= len(pixels) and k not in held_out:
            raise SplitError(
                f"--data.val_fraction {val_fraction} leaves class {k} ({class_names[k - 1]!r}) with no training "
                f"pixel ({len(pixels)} available): lower --data.val_fraction."
            )
        if len(pixels) and n_val == 0 and k not in held_out:
            missed.append(f"{class_names[k - 1]!r} ({len(pixels)} training px)")
        held.append(pixels[:n_val])
        keep.append(pixels[n_val:])
        n_seen_val += n_val if k not in held_out else 0
    if missed:
        best = smallest_val_fraction(counts)
        hint = (f"the smallest value that holds out >= 1 pixel of every class with >= 2 training pixels is "
                f"--data.val_fraction {best}" if best is not None else
                "no class has 2 training pixels, so none can spare one for validation")
        if n_seen_val == 0:
            raise SplitError(f"--data.val_fraction {val_fraction} rounds to 0 validation pixels in every class "
                             f"({', '.join(missed)}): validation would silently be off. Use 0 for no validation; "
                             f"{hint}.")
        warnings.warn(f"--data.val_fraction {val_fraction} gives no validation pixel to {len(missed)} class(es): "
                      f"{', '.join(missed)}; val/AA leaves them out. {hint[0].upper()}{hint[1:]}.", stacklevel=3)
    return np.concatenate(keep), np.concatenate(held)


def make_split(
    labels: np.ndarray,
    class_names: tuple[str, ...] | list[str],
    protocol: str = "standard",
    seed: int = 0,
    train_map: np.ndarray | None = None,
    test_map: np.ndarray | None = None,
    val_fraction: float = 0.0,
    allow_empty_train_classes: bool = False,
    train_source: str = "the training map",
    unseen: tuple[int, ...] | list[int] = (),
) -> Split:
    """Draw the split. labels: (H, W) int, 0 = unlabelled, 1..K.

    The draw is stratified per class with `np.random.default_rng(seed)`, classes in label order, so the
    same (labels, protocol, seed) always gives the same indices. Validation pixels are carved out of the
    training pixels only (never out of the test pixels), stratified by class.

    A class without training pixels (absent from the published training map `train_source`, or with no
    labelled pixel at all) is a SplitError unless `allow_empty_train_classes`.

    `unseen` (0-based classes, mmlgnet.data.sampling.unseen.resolve_unseen): held out of training and validation.
    The draw itself is unchanged (same random stream, same test pixels as without `unseen`), and the unseen
    classes' would-be training pixels are dropped, not moved to test: seen classes get exactly the training
    pixels, and every class exactly the test pixels, of the same protocol and seed without held-out classes,
    so open-vocabulary runs compare pixel for pixel with the supervised ones. (A drawn protocol impossible for
    an unseen class, N >= its pixel count, puts all its pixels in test.)
    """
    kind, value = parse_protocol(protocol)
    check_val_fraction(val_fraction)
    num_classes = len(class_names)
    rng = np.random.default_rng(seed)
    flat = labels.reshape(-1).astype(np.int64)
    held_out = {int(k) + 1 for k in unseen}  # label values
    if kind == "standard":
        if train_map is None or test_map is None:
            raise SplitError(
                "Split 'standard' needs the published training/test maps TRLabel.mat/TSLabel.mat in the scene "
                "directory, and none were found (MUUFL has no official split; Trento's original layout has only the "
                f"full ground truth allgrd.mat: add TRLabel.mat/TSLabel.mat beside it). Or draw a split: {SPLIT_HELP}."
            )
        train = np.flatnonzero(train_map.reshape(-1) > 0)
        test = np.flatnonzero(test_map.reshape(-1) > 0)
        n_train = np.bincount(train_map.reshape(-1)[train].astype(np.int64), minlength=num_classes + 1)
        n_test = np.bincount(test_map.reshape(-1)[test].astype(np.int64), minlength=num_classes + 1)
        for k in range(1, num_classes + 1):
            if n_train[k] == 0 and not allow_empty_train_classes and k not in held_out:
                raise _empty_class_error(k, class_names[k - 1], f"Split 'standard' ({train_source})", int(n_test[k]))
    else:
        train_parts, test_parts = [], []
        for k in range(1, num_classes + 1):
            pixels = np.flatnonzero(flat == k)
            n = len(pixels)
            if n == 0:
                if allow_empty_train_classes or k in held_out:
                    continue
                raise _empty_class_error(k, class_names[k - 1], f"Split {protocol!r}: the ground truth", 0)
            n_draw = int(value) if kind == "per_class" else int(round(value * n))
            if k in held_out and not 1 <= n_draw < n:
                test_parts.append(rng.permutation(pixels))  # impossible draw: every pixel is a test pixel
                continue
            if n_draw < 1 or n_draw >= n:
                raise SplitError(
                    f"Split {protocol!r} is impossible for class {k} ({class_names[k - 1]!r}): it has {n} labelled "
                    f"pixels and the protocol asks for {n_draw} training pixels, leaving {n - n_draw} for testing. "
                    f"Use a smaller N / p in --data.split (every class needs at least 1 training and 1 test pixel)."
                )
            chosen = rng.permutation(pixels)
            train_parts.append(chosen[:n_draw])
            test_parts.append(chosen[n_draw:])
        empty = np.empty(0, dtype=np.int64)
        train, test = np.concatenate([empty, *train_parts]), np.concatenate([empty, *test_parts])
    val = np.empty(0, dtype=np.int64)
    if val_fraction > 0:
        train, val = _carve_validation(train, flat, class_names, val_fraction, rng, held_out)
    if held_out:  # drawn as without them (same stream, same subsets), then their train/val pixels dropped
        train, val = (idx[~np.isin(flat[idx], list(held_out))] for idx in (train, val))
    return Split(protocol, seed, np.sort(train), np.sort(val), np.sort(test), tuple(sorted(int(k) for k in unseen)))
