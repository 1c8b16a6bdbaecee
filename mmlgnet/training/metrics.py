"""Land-cover scores (OA, AA, kappa, per-class; seen/unseen/H with held-out classes) from one confusion matrix."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

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


def open_vocab_scores(confusion: torch.Tensor, unseen: Sequence[int]) -> dict[str, float]:
    """Generalised zero-shot scores (percent) of a (K, K) confusion matrix whose predictions range over all K classes.

    The GZSL definitions (Xian et al., "Zero-Shot Learning — the Good, the Bad and the Ugly", TPAMI 2019):
    seen_accuracy S = mean per-class accuracy (diagonal / row sum) over the seen classes, unseen_accuracy
    U = the same over the `unseen` classes (0-based), harmonic_mean H = 2·S·U / (S + U). A class without
    test pixels is left out of its mean, as in AA. Undefined values are NaN (JSON null via write_json): S or
    U when none of its classes has a test pixel, H when S or U is undefined. H = 0 when S = U = 0 (the
    limit of 2su/(s+u); a zero on either side gives H = 0).
    """
    per_class = scores_from_confusion(confusion)["per_class"]  # (K,) percent, NaN = no test pixel
    k = per_class.shape[0]
    held = set(int(i) for i in unseen)
    if not held <= set(range(k)):
        raise ValueError(f"unseen {sorted(held)} out of range for {k} classes")

    def mean(classes: list[int]) -> float:
        values = [float(per_class[i]) for i in classes if not math.isnan(float(per_class[i]))]
        return sum(values) / len(values) if values else math.nan

    s = mean([i for i in range(k) if i not in held])
    u = mean(sorted(held))
    h = math.nan if math.isnan(s) or math.isnan(u) else (0.0 if s + u == 0 else 2 * s * u / (s + u))
    return {"seen_accuracy": s, "unseen_accuracy": u, "harmonic_mean": h}


def metric_key(class_name: str) -> str:
    """'Apple trees' -> 'apple_trees' (used in `test/acc_<class>`)."""
    return re.sub(r"[^0-9a-z]+", "_", class_name.lower()).strip("_")
