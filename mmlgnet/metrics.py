"""Land-cover scores (OA, AA, Cohen's kappa, per-class accuracy) derived from one confusion matrix."""

from __future__ import annotations

import re

import torch


def scores_from_confusion(confusion: torch.Tensor) -> dict[str, torch.Tensor]:
    """confusion: (K, K) counts, rows = true class, columns = predicted class. Returns percentages 0–100.

    OA = trace / total; per-class accuracy (producer's accuracy, recall) = diagonal / row sums;
    AA = mean per-class accuracy over classes that have test pixels; kappa = (p_o − p_e) / (1 − p_e).
    Deriving every score from the one matrix keeps them consistent, and only the matrix is synced
    across DDP ranks (torchmetrics' MulticlassConfusionMatrix does that).

    Undefined values are NaN, never a made-up number: the accuracy of a class with no test pixel
    (0/0; AA leaves such a class out rather than counting it as 0 %), and AA when no class has one.
    Written through `mmlgnet.atomic.write_json` they become JSON null (strict JSON, no bare NaN).
    """
    cm = confusion.double()
    total = cm.sum()
    support = cm.sum(dim=1)  # (K,)
    diag = cm.diagonal()
    per_class = torch.where(support > 0, diag / support.clamp(min=1), torch.full_like(diag, float("nan")))
    oa = diag.sum() / total.clamp(min=1)
    present = support > 0
    aa = per_class[present].mean() if present.any() else torch.tensor(float("nan"), dtype=cm.dtype)
    p_e = (support * cm.sum(dim=0)).sum() / total.clamp(min=1) ** 2
    kappa = (oa - p_e) / (1 - p_e) if p_e < 1 else torch.tensor(1.0, dtype=cm.dtype)
    return {"OA": 100 * oa, "AA": 100 * aa, "kappa": 100 * kappa, "per_class": 100 * per_class}


def metric_key(class_name: str) -> str:
    """'Apple trees' -> 'apple_trees' (used in `test/acc_<class>`)."""
    return re.sub(r"[^0-9a-z]+", "_", class_name.lower()).strip("_")
