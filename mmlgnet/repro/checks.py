"""The done-check: a run counts as finished only when its test_metrics.json is complete, consistent and trained."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeGuard

from mmlgnet.errors import is_int


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def read_strict_json(path: Path) -> Any:
    """json.loads that refuses NaN/Infinity (which strict JSON readers reject too)."""
    return json.loads(Path(path).read_text(), parse_constant=_reject_constant)


def metrics_problems(path: Path, scene: str, protocol: str, seed: int,
                     load: Callable[[Path], Any] = read_strict_json) -> list[str]:
    """Why `path` (a run's test_metrics.json) is not a finished result; [] when it is one.

    Checked: strict JSON; OA/AA/kappa finite numbers; a square integer confusion matrix with one row per class
    of `per_class_accuracy`, summing to `num_test_pixels` > 0; the run's seed, scene and split protocol; and a
    trained model: `trained.global_step` > 0 and no `allow_untrained` debug switch. A missing key is a problem.
    `load`: how the file is read (the registry's, which reads each file once per invocation).
    """
    try:
        rec = load(path)
    except FileNotFoundError:
        return [f"{path} is missing"]
    except (OSError, ValueError) as e:  # JSONDecodeError is a ValueError
        return [f"{path} is not strict JSON ({e})"]
    if not isinstance(rec, dict):
        return [f"{path} holds a {type(rec).__name__}, not an object"]
    problems = [f"{k} is {rec.get(k)!r}, not a finite number" for k in ("OA", "AA", "kappa") if not _finite(rec.get(k))]
    confusion = rec.get("confusion_matrix")
    classes = rec.get("per_class_accuracy")
    k = len(classes) if isinstance(classes, dict) else None
    if k is None:
        problems.append("per_class_accuracy is missing")
    if not _square_counts(confusion, k):
        problems.append(f"confusion_matrix is not a {k or 'K'}×{k or 'K'} matrix of non-negative integers")
    else:
        total = sum(map(sum, confusion))
        if rec.get("num_test_pixels") != total or total <= 0:
            problems.append(f"num_test_pixels is {rec.get('num_test_pixels')!r}, the confusion matrix sums to {total}")
    if rec.get("seed") != seed:
        problems.append(f"seed is {rec.get('seed')!r}, the run's seed is {seed}")
    if rec.get("scene") != scene:
        problems.append(f"scene is {rec.get('scene')!r}, the plan's scene is {scene!r}")
    split = rec.get("split")
    if not isinstance(split, dict) or split.get("name") != protocol:
        got = split.get("name") if isinstance(split, dict) else split
        problems.append(f"split is {got!r}, the plan's split protocol is {protocol!r}")
    if rec.get("allow_untrained") not in (None, False):
        problems.append("allow_untrained is set: the numbers may come from an untrained model (a debugging switch)")
    trained = rec.get("trained")
    step = trained.get("global_step") if isinstance(trained, dict) else None
    if not is_int(step) or step <= 0:
        problems.append(f"trained.global_step is {step!r}: no evidence that the tested model was trained")
    return problems


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _square_counts(m: Any, k: int | None) -> TypeGuard[list[list[int]]]:
    if not isinstance(m, list) or not m or (k is not None and len(m) != k):
        return False
    return all(isinstance(row, list) and len(row) == len(m)
               and all(is_int(c) and c >= 0 for c in row) for row in m)
