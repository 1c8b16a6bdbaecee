"""Frozen CLIP text embeddings of class prompts, computed once and cached on disk."""

from __future__ import annotations

import gc
import logging
import os
import socket
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast
from urllib.parse import urlparse

import open_clip
import torch
import torch.nn.functional as F
from open_clip.pretrained import download_pretrained, get_pretrained_cfg, list_pretrained_tags_by_model
from torch import Tensor

from mmlgnet.errors import ConfigError, UserError
from mmlgnet.text import cache as text_cache
from mmlgnet.text.cache import TextCacheError as TextCacheError
from mmlgnet.text.cache import TextCacheWarning as TextCacheWarning
from mmlgnet.text.cache import default_cache_dir as default_cache_dir

log = logging.getLogger(__name__)

#: Prompt templates (our choice: the paper's prompts are not published). Each class embedding is
#: the normalised mean over these, as in CLIP's zero-shot prompt ensembling.
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "a hyperspectral image of {}.",
    "a remote sensing image of {}.",
    "an aerial view of {}.",
    "a LiDAR and hyperspectral scene showing {}.",
    "a satellite photo of {}.",
)

#: Tiny open_clip model configs shipped with the package (tests, offline smoke runs).
CLIP_CONFIG_DIR = Path(__file__).parent / "clip_configs"
open_clip.add_model_config(CLIP_CONFIG_DIR)

_SEED = 0  # the fixed seed of an untrained (pretrained=None) text tower
_PROBE_TIMEOUT_S = 3.0  # how long to wait for a weights host before declaring ourselves offline
_SCHEMAS = ("hf-hub:", "local-dir:")
_EXAMPLE_MODELS = ("ViT-B-32", "ViT-B-32-quickgelu", "ViT-B-16", "ViT-L-14", "RN50", "mmlgnet-tiny")


class ClipWeightsError(UserError):
    """The CLIP weights asked for cannot be obtained (offline, not cached, missing file, unknown tag)."""


def build_prompts(class_names: Sequence[str], templates: Sequence[str] = DEFAULT_TEMPLATES) -> list[list[str]]:
    """(K, T) prompts: every template filled with every class name (the name as written, lower-cased)."""
    if not class_names:
        raise ValueError("class_names is empty")
    if not templates or any("{}" not in t for t in templates):
        raise ConfigError(f"--model.prompt_templates: expected a non-empty list of templates that each contain '{{}}' "
                          f"(where the class name goes), got {list(templates)}")
    return [[t.format(name.lower()) for t in templates] for name in class_names]


def _is_path_like(pretrained: str) -> bool:
    return os.sep in pretrained or "/" in pretrained or pretrained.endswith((".bin", ".pt", ".pth", ".safetensors"))


def cache_path(
    model_name: str, pretrained: str | None, prompts: list[list[str]], cache_dir: str | Path | None = None
) -> Path:
    """The cache file of these prompts under this model/weights; the name embeds a sha256 key."""
    return text_cache.cache_file(text_cache.cache_identity(model_name, pretrained, prompts, _SEED), pretrained, cache_dir)


def _guidance(model_name: str, pretrained: str | None, cache_file: Path) -> str:
    tag = pretrained if pretrained and not _is_path_like(pretrained) else "openai"
    return (
        f"Cannot obtain CLIP weights for model {model_name!r} with pretrained={pretrained!r}. Provide them by:\n"
        f"  (a) a local checkpoint file: --model.text_pretrained /path/to/open_clip_pytorch_model.bin\n"
        f"  (b) pre-filling the Hugging Face cache on a connected machine:\n"
        f"      python -c \"import open_clip; open_clip.create_model('{model_name}', pretrained='{tag}')\"\n"
        f"      then copy ~/.cache/huggingface to this machine (or point HF_HOME at the copy)\n"
        f"  (c) copying the mmlgnet text-embedding cache file computed elsewhere to\n"
        f"      {cache_file}\n"
        f"  or run with --model.text_pretrained null for an untrained text tower (not language-guided)."
    )


def _offline(host: str | None) -> bool:
    """True when HF_HUB_OFFLINE is set or `host` cannot be reached within a few seconds."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    try:
        import huggingface_hub.constants as hf_constants

        if getattr(hf_constants, "HF_HUB_OFFLINE", False):
            return True
    except ImportError:
        pass
    if not host:
        return True
    try:
        socket.create_connection((host, 443), timeout=_PROBE_TIMEOUT_S).close()
    except OSError:
        return True
    return False


def _resolve_tag(model_name: str, tag: str, cache_file: Path) -> tuple[str, bool]:
    """A pretrained tag → (local checkpoint path, quick_gelu); Hugging Face cache first, fail fast."""
    cfg = get_pretrained_cfg(model_name, tag)
    if not cfg:
        raise ClipWeightsError(
            f"{tag!r} is neither an existing file nor a known pretrained tag of {model_name!r} "
            f"(known tags: {list_pretrained_tags_by_model(model_name)}).\n" + _guidance(model_name, tag, cache_file)
        )
    quick_gelu = bool(cfg.get("quick_gelu", False))
    hub = cfg.get("hf_hub", "")
    if hub:
        from huggingface_hub import hf_hub_download

        repo_id, filename = os.path.split(hub)
        names = ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"] if not filename else [filename]
        for name in names:
            try:
                return hf_hub_download(repo_id, name, local_files_only=True), quick_gelu
            except Exception:  # not in the local cache
                continue
    host = "huggingface.co" if hub else urlparse(cfg.get("url", "")).hostname
    if _offline(host):
        raise ClipWeightsError(
            f"offline (HF_HUB_OFFLINE set or {host} unreachable) and the weights are not cached.\n"
            + _guidance(model_name, tag, cache_file)
        )
    try:
        return download_pretrained(cfg), quick_gelu
    except Exception as e:
        raise ClipWeightsError(f"download failed: {e}\n" + _guidance(model_name, tag, cache_file)) from e


def _drop_open_clip_random_init(record: logging.LogRecord) -> bool:
    """A root-logger filter: drop open_clip's "No pretrained weights loaded" (a second untrained warning)."""
    return not str(record.msg).startswith("No pretrained weights loaded")


def _create_model(model_name: str, pretrained: str | None, device: str, cache_file: Path) -> torch.nn.Module:
    """Build the open_clip model with the requested weights (the full model: open_clip has no text-only build)."""
    if pretrained is None:
        root = logging.getLogger()
        root.addFilter(_drop_open_clip_random_init)  # _warn_untrained has said it, louder
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(_SEED)
                return open_clip.create_model(model_name, pretrained=None, pretrained_text=False, device=device)
        finally:
            root.removeFilter(_drop_open_clip_random_init)
    if os.path.isfile(pretrained):
        checkpoint, quick_gelu = pretrained, False
    elif _is_path_like(pretrained) or model_name.startswith(_SCHEMAS):
        if not model_name.startswith(_SCHEMAS):
            raise ClipWeightsError(f"checkpoint file {pretrained} does not exist.\n" + _guidance(model_name, pretrained, cache_file))
        checkpoint, quick_gelu = pretrained, False
    else:
        checkpoint, quick_gelu = _resolve_tag(model_name, pretrained, cache_file)
    try:
        return open_clip.create_model(model_name, pretrained=checkpoint, force_quick_gelu=quick_gelu, device=device)
    except Exception as e:
        raise ClipWeightsError(
            f"loading CLIP weights from {checkpoint} failed: {e}\n" + _guidance(model_name, pretrained, cache_file)
        ) from e


def _warn_untrained(model_name: str) -> None:
    msg = (
        f"text_pretrained=None: the {model_name} text tower is randomly initialised (seed {_SEED}); "
        "class text embeddings are UNTRAINED and results are NOT language-guided."
    )
    warnings.warn(msg, UserWarning, stacklevel=3)  # once: not also log.warning (users saw it twice)


def _embed_dim(model_name: str) -> int | None:
    """The text embedding width D of a registered model config (None for hf-hub:/local-dir: models)."""
    if model_name.startswith(_SCHEMAS):
        return None
    cfg = open_clip.get_model_config(model_name) or {}
    return int(cfg["embed_dim"]) if "embed_dim" in cfg else None


@torch.no_grad()
def _encode(model: torch.nn.Module, model_name: str, prompts: list[list[str]], device: str) -> Tensor:
    k, t = len(prompts), len(prompts[0])
    tokenizer = open_clip.get_tokenizer(model_name)
    tokens = tokenizer([p for row in prompts for p in row]).to(device)  # (K·T, L)
    encode_text = cast(Callable[[Tensor], Tensor], model.encode_text)  # CLIP / CustomTextCLIP method
    feats = F.normalize(encode_text(tokens).float(), dim=-1)  # (K·T, D)
    mean = feats.reshape(k, t, -1).mean(dim=1)  # (K, D)
    return F.normalize(mean, dim=-1).cpu()


def class_text_embeddings(
    class_names: Sequence[str],
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    model_name: str = "ViT-B-32",
    pretrained: str | None = "openai",
    cache_dir: str | Path | None = None,
    device: str = "cpu",
    encoder: str = "open_clip",
) -> Tensor:
    """(K, D) float32 unit-norm class embeddings: per class, the normalised mean over templates of
    the normalised CLIP text embeddings of the filled-in prompts.

    `pretrained` is an open_clip tag ("openai", "laion2b_s34b_b79k", ...), a local checkpoint file, or
    None for a randomly initialised tower under a fixed seed (warns loudly). Results are cached in
    `cache_dir` (default `default_cache_dir()`) keyed by model, weights identity, prompts and the
    open_clip version; a cache hit never builds the model. A cached file is validated on every load
    (shape, finite, unit norm, sha256 checksum: see `text_cache.read_valid`); an invalid one gives one
    TextCacheWarning and is recomputed and rewritten atomically. Nothing of CLIP stays in memory after
    the call. Raises ClipWeightsError (with how to provide the weights) when they cannot be obtained,
    TextCacheError when the cache folder cannot be written, and ConfigError for an unknown model name.
    """
    if encoder != "open_clip":
        raise ConfigError(f"--model.text_encoder: {encoder!r} is not available yet; expected 'open_clip'")
    if not model_name.startswith(_SCHEMAS) and model_name not in open_clip.list_models():
        known = open_clip.list_models()
        examples = [m for m in _EXAMPLE_MODELS if m in known] + known[:5]
        raise ConfigError(f"--model.text_model: unknown open_clip model {model_name!r}; expected a registered name, "
                          f"e.g. one of {examples} (see open_clip.list_models()), or hf-hub:ORG/NAME")
    prompts = build_prompts(class_names, templates)
    identity = text_cache.cache_identity(model_name, pretrained, prompts, _SEED)
    path = text_cache.cache_file(identity, pretrained, cache_dir)
    if pretrained is None:
        _warn_untrained(model_name)
    cached = text_cache.load(path, identity, _embed_dim(model_name))  # None: missing or invalid (warned)
    if cached is not None:
        log.info("text embeddings: cache hit %s", path)
        return cached
    text_cache.ensure_writable(path.parent, cache_dir)  # fail before building the model

    log.info("text embeddings: building %s (pretrained=%s), cache miss %s", model_name, pretrained, path)
    model = _create_model(model_name, pretrained, device, path)
    model.eval()
    try:
        emb = _encode(model, model_name, prompts, device)  # (K, D)
    finally:
        del model
        gc.collect()
    text_cache.save(path, emb, identity, cache_dir)
    return emb
