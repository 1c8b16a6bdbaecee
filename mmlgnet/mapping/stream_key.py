"""What decides a streamed pixel, model side: the resume key's weights digest, class list and run settings.

A streaming prediction resumes the tiles a killed run wrote only when this key (with the scene files and data
options of mmlgnet.data.sampling.streaming.StreamPlan.fingerprint) equals the killed run's. The key is computed from the
LightningModule that predicts, AFTER its weights were restored, so it is right whether they came from
--ckpt_path or from a fit in this process; a checkpoint's path, size or time play no part (the same weights
copied elsewhere resume; other weights under the same path restart).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from mmlgnet.atomic import to_strict_json

__all__ = ["differences", "model_identity", "plain", "tensor_digest", "weights_digest"]


def _update(h: Any, name: str, t: torch.Tensor) -> None:
    t = t.detach().cpu().contiguous()
    h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy())  # the raw bytes (any dtype, bfloat16 included)


def weights_digest(module: torch.nn.Module) -> str:
    """sha256 over the module's state_dict, in sorted key order: each key, dtype, shape and raw bytes.

    The state_dict holds the text head's class embeddings (a persistent buffer: the predict list's with
    --model.predict_class_names), so they are covered too. Non-tensor entries (extra state) enter by repr.
    """
    h = hashlib.sha256()
    for name, value in sorted(module.state_dict().items()):
        if isinstance(value, torch.Tensor):
            _update(h, name, value)
        else:
            h.update(f"{name}|{value!r}|".encode())
    return h.hexdigest()


def tensor_digest(t: torch.Tensor) -> str:
    """sha256 of one tensor's dtype, shape and bytes."""
    h = hashlib.sha256()
    _update(h, "", t)
    return h.hexdigest()


def plain(obj: Any) -> Any:
    """`obj` as it reads back from the progress record's strict JSON (tuples -> lists; NaN/inf -> null)."""
    try:
        strict = to_strict_json(obj)
    except TypeError:  # a value JSON cannot hold (an hparam object): its repr
        strict = to_strict_json(json.loads(json.dumps(obj, default=repr)))
    return json.loads(json.dumps(strict, allow_nan=False))


def model_identity(module: Any, class_names: Sequence[str], precision: str) -> dict[str, Any]:
    """The model's part of the resume key (JSON-plain).

    `class_names`: the maps' class list (the model's with --model.predict_class_names, else the scene's);
    `precision`: the trainer's (16-mixed and 32 give other numbers). The device type, torch version and CPU
    thread count (--threads) enter too: each changes the float rounding, so its tiles would not match.
    """
    head = getattr(module, "head", None)
    embeddings = getattr(head, "class_embeddings", None)  # (K, D) text head; None for the linear head
    hparams = getattr(module, "hparams", {})
    device = getattr(module, "device", torch.device("cpu"))
    return plain({
        "weights_sha256": weights_digest(module),
        "class_names": [str(n) for n in class_names],
        "text_embeddings_sha256": tensor_digest(embeddings) if isinstance(embeddings, torch.Tensor) else None,
        "hparams_sha256": hashlib.sha256(json.dumps(plain(dict(hparams)), sort_keys=True).encode()).hexdigest(),
        "precision": str(precision),
        "device": torch.device(device).type,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    })


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Keys (one level into `model`) whose values differ: the reasons a record is not resumed, for the log."""
    keys = sorted(set(old) | set(new))
    out: list[str] = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if isinstance(a, Mapping) and isinstance(b, Mapping) and k == "model":
            out += [f"model.{d}" for d in differences(a, b)]
        elif a != b:
            out.append(k)
    return out
