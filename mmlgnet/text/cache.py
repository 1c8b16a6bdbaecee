"""On-disk cache of class text embeddings: keyed by model, weights (by content, with a preset's recipe) and prompts;
checked on every load."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import open_clip
import torch
from torch import Tensor

from mmlgnet.atomic import save_torch
from mmlgnet.errors import UserError
from mmlgnet.text.digests import default_cache_dir as default_cache_dir

#: A cached class embedding's norm may differ from 1 by this much (float32 round-off is ~1e-7).
NORM_TOLERANCE = 1e-4
_KEYS = ("embeddings", "prompts", "model_name", "pretrained", "dim", "checksum")


class TextCacheError(UserError):
    """The text-embedding cache folder cannot be created or written (MMLGNET_CACHE, --model.text_cache_dir)."""


class TextCacheWarning(UserWarning):
    """A cached text-embedding file failed validation: it is recomputed and rewritten."""


def pretrained_identity(pretrained: str | None, seed: int, model_name: str = "") -> object:
    """What of `pretrained` decides the weights (mmlgnet.text.weights_id): a tag, a preset with its recipe and
    its file's content or hub revision + sha256, a local file's content, or the init seed."""
    from mmlgnet.text.weights_id import weights_identity

    return weights_identity(pretrained, model_name, seed, fetch=True)


def cache_identity(model_name: str, pretrained: str | None, prompts: list[list[str]], seed: int) -> dict[str, Any]:
    """Everything that decides the embeddings: model, weights identity (with a preset's recipe), prompts,
    open_clip version."""
    return {
        "model_name": model_name,
        "pretrained": pretrained_identity(pretrained, seed, model_name),
        "prompts": prompts,
        "open_clip": open_clip.__version__,
    }


def cache_file(identity: dict[str, Any], pretrained: str | None, cache_dir: str | Path | None = None) -> Path:
    """The cache file of `identity`; its name embeds a sha256 of it."""
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    model_name = identity["model_name"]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{model_name}-{pretrained or 'untrained'}")
    return Path(cache_dir or default_cache_dir()) / f"{safe[-80:]}-{key[:24]}.pt"


def checksum(embeddings: Tensor, identity: dict[str, Any]) -> str:
    """sha256 of the (K, D) float32 tensor's bytes, its shape, the prompts and the model identity."""
    head = json.dumps({"identity": identity, "shape": list(embeddings.shape), "dtype": str(embeddings.dtype)},
                      sort_keys=True)
    digest = hashlib.sha256(head.encode())
    digest.update(embeddings.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:160]}{'...' if len(text) > 160 else ''}"


def read_valid(path: Path, identity: dict[str, Any], dim: int | None) -> tuple[Tensor | None, str]:
    """(embeddings, "") when `path` holds valid embeddings of `identity`, else (None, what is wrong).

    Valid means: loads with weights_only; has our keys; same prompts; a float32 (K, D) tensor with
    K = number of prompt rows and D = `dim` (the model's embed_dim, when known) = the stored dim;
    finite; every row of unit norm (± NORM_TOLERANCE); and the stored sha256 matches the content.
    """
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, random bytes, foreign pickle, ...
        return None, f"unreadable ({_one_line(e)})"
    if not isinstance(data, dict) or any(k not in data for k in _KEYS):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        return None, (f"not a checksummed mmlgnet text cache (from an older mmlgnet or another program: "
                      f"expected keys {list(_KEYS)}, found {found})")
    prompts = identity["prompts"]
    if data["prompts"] != prompts:
        return None, "its prompts differ from the requested ones"
    emb = data["embeddings"]
    if not isinstance(emb, Tensor) or emb.dtype != torch.float32:
        return None, f"embeddings are {getattr(emb, 'dtype', type(emb).__name__)}, expected a float32 tensor"
    k, d = len(prompts), dim if dim is not None else data["dim"]
    if emb.ndim != 2 or tuple(emb.shape) != (k, d) or data["dim"] != d or d < 1:
        return None, f"embeddings have shape {tuple(emb.shape)} (stored dim {data['dim']}), expected ({k}, {d})"
    finite = torch.isfinite(emb)
    if not finite.all():
        return None, f"{int((~finite).sum())} of {emb.numel()} values are not finite"
    off = (emb.norm(dim=-1) - 1).abs()  # (K,)
    if off.max() > NORM_TOLERANCE:
        i = int(off.argmax())
        return None, f"class {i} has norm {float(emb[i].norm()):.6g}, expected 1 ± {NORM_TOLERANCE:g}"
    expected = checksum(emb, identity)
    if data["checksum"] != expected:
        return None, f"sha256 checksum mismatch (stored {str(data['checksum'])[:16]}..., content {expected[:16]}...)"
    return emb, ""


def load(path: Path, identity: dict[str, Any], dim: int | None) -> Tensor | None:
    """The valid cached (K, D) embeddings at `path`, or None (a miss). An existing file that fails
    `read_valid` is reported by ONE TextCacheWarning naming the file and the fault; the caller then
    recomputes and `save`s over it."""
    if not path.is_file():
        if path.exists():
            _warn(path, "it is not a regular file")
        return None
    emb, problem = read_valid(path, identity, dim)
    if emb is None:
        _warn(path, problem)
    return emb


def _warn(path: Path, problem: str) -> None:
    # stacklevel 4: the caller of class_text_embeddings (load <- class_text_embeddings <- caller)
    warnings.warn(f"text-embedding cache {path} is invalid: {problem}; recomputing it and rewriting the file.",
                  TextCacheWarning, stacklevel=4)


def _source(cache_dir: str | Path | None) -> tuple[str, str]:
    """(who chose the cache folder, how to choose another) for error messages."""
    if cache_dir is not None:
        return f"--model.text_cache_dir={cache_dir}", "give --model.text_cache_dir a writable folder"
    root = os.environ.get("MMLGNET_CACHE")
    if root:
        return f"MMLGNET_CACHE={root}", "point MMLGNET_CACHE at a writable folder (or unset it for ~/.cache/mmlgnet)"
    return "the default cache folder", "set MMLGNET_CACHE to a writable folder"


def _unusable(folder: Path, cache_dir: str | Path | None, why: str) -> TextCacheError:
    who, fix = _source(cache_dir)
    return TextCacheError(
        f"{who}: cannot use {folder} for the text-embedding cache: {why}. Expected a writable folder "
        f"(created when missing). Fix: {fix}."
    )


def ensure_writable(folder: Path, cache_dir: str | Path | None) -> None:
    """Create `folder` if needed; TextCacheError (naming MMLGNET_CACHE or the option, and the path) when
    it cannot hold files. Called before a model is built, so a bad setting fails fast."""
    blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise _unusable(folder, cache_dir, f"{blocker} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _unusable(folder, cache_dir, f"it cannot be created ({_one_line(e)})") from e
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _unusable(folder, cache_dir, "it is not writable")


def save(path: Path, embeddings: Tensor, identity: dict[str, Any], cache_dir: str | Path | None) -> None:
    """Write the (K, D) embeddings with their identity and checksum, atomically (temp file + rename)."""
    record = {
        "embeddings": embeddings, "prompts": identity["prompts"], "model_name": identity["model_name"],
        "pretrained": json.dumps(identity["pretrained"], sort_keys=True), "dim": int(embeddings.shape[1]),
        "checksum": checksum(embeddings, identity),
    }
    try:
        save_torch(path, record)
    except OSError as e:
        raise _unusable(path.parent, cache_dir, f"writing {path.name} failed ({_one_line(e)})") from e
