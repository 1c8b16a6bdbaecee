"""`--data.unseen_classes`: classes held out of training and validation for open-vocabulary (zero-shot) evaluation.

The option takes class names or 1-based class ids (label values), e.g. `'[Vineyard]'` or `'[7]'`. Those
classes' pixels never enter the training or validation subsets, and the model never sees their text
embeddings while training (mmlgnet.training.open_vocab); test and predict score all K classes.
"""

from __future__ import annotations

from collections.abc import Sequence

from mmlgnet.data.sampling.splits import SplitError

OPTION = "--data.unseen_classes"
UnseenOption = Sequence[str | int] | None


def check_unseen_option(values: UnseenOption) -> tuple[str | int, ...]:
    """Construction-time check (no scene needed): a list of names (str) or 1-based ids (int), no entry twice."""
    if values is None:
        return ()
    if isinstance(values, (str, bytes)):
        raise SplitError(f"{OPTION} {values!r}: expected a list of class names or 1-based class ids, e.g. "
                         f"{OPTION} '[{values!s}]'.")
    out: list[str | int] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise SplitError(f"{OPTION} {list(values)!r}: entry {v!r} is neither a class name nor a 1-based "
                             f"class id (an integer).")
        if v in out:
            raise SplitError(f"{OPTION} {list(values)!r}: {v!r} is given twice; give each held-out class once.")
        out.append(v)
    return tuple(out)


def _one(v: str | int, class_names: Sequence[str], given: list[str | int]) -> int:
    """One entry -> its 0-based class index, or SplitError naming the option and the scene's classes."""
    k = len(class_names)
    listing = ", ".join(f"{i + 1}={n!r}" for i, n in enumerate(class_names))
    if isinstance(v, str) and v in class_names:
        return list(class_names).index(v)
    if isinstance(v, str) and v.strip().isdigit():
        v = int(v.strip())  # a quoted id ('7'): no class of that name
    if isinstance(v, int):
        if 1 <= v <= k:
            return v - 1
        raise SplitError(f"{OPTION} {given!r}: class id {v} is out of range: ids are the 1-based label values "
                         f"1..{k} of this scene ({listing}).")
    close = [n for n in class_names if n.lower() == v.lower()]
    hint = f" (did you mean {close[0]!r}? names are case-sensitive)" if close else ""
    raise SplitError(f"{OPTION} {given!r}: {v!r} is not a class of this scene{hint}. Expected a class name or "
                     f"a 1-based id: {listing}.")


def resolve_unseen(values: UnseenOption, class_names: Sequence[str]) -> tuple[int, ...]:
    """The held-out classes as sorted 0-based indices into `class_names`.

    SplitError naming the option for an unknown name or id, a class given twice (e.g. by name and by id),
    or every class held out (nothing would be left to train on).
    """
    entries = check_unseen_option(values)
    given = list(entries)
    seen_at: dict[int, str | int] = {}
    for v in entries:
        i = _one(v, class_names, given)
        if i in seen_at:
            raise SplitError(f"{OPTION} {given!r}: {seen_at[i]!r} and {v!r} both name class {i + 1} "
                             f"({class_names[i]!r}); give each held-out class once.")
        seen_at[i] = v
    if seen_at and len(seen_at) >= len(class_names):
        raise SplitError(f"{OPTION} {given!r} holds out all {len(class_names)} classes of the scene: nothing is "
                         f"left to train on. Hold out some of them (at least one class must stay seen).")
    return tuple(sorted(seen_at))
