"""Class text embeddings of the class prompts, computed once by a frozen text encoder and cached on disk.

The encoder is `--model.text_encoder` (open_clip, sentence_transformers: mmlgnet.text.encoders); the prompts
are templates and/or descriptions (mmlgnet.text.prompts); the cache is mmlgnet.text.cache.
"""

from __future__ import annotations

import gc
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

from torch import Tensor

from mmlgnet.text import cache as text_cache
from mmlgnet.text import encoders
from mmlgnet.text.cache import TextCacheError as TextCacheError
from mmlgnet.text.cache import TextCacheWarning as TextCacheWarning
from mmlgnet.text.cache import default_cache_dir as default_cache_dir
from mmlgnet.text.openclip_encoder import create_model as _create_model  # noqa: F401  (mmlgnet.text.coop)
from mmlgnet.text.openclip_model import CLIP_CONFIG_DIR as CLIP_CONFIG_DIR
from mmlgnet.text.openclip_model import SEED as _SEED
from mmlgnet.text.openclip_model import ClipWeightsError as ClipWeightsError
from mmlgnet.text.prompts import DEFAULT_TEMPLATES as DEFAULT_TEMPLATES
from mmlgnet.text.prompts import build_prompts as build_prompts

log = logging.getLogger(__name__)


def cache_path(
    model_name: str, pretrained: str | None, prompts: list[list[str]], cache_dir: str | Path | None = None
) -> Path:
    """The cache file of these prompts under this open_clip model/weights; the name embeds a sha256 key."""
    return text_cache.cache_file(text_cache.cache_identity(model_name, pretrained, prompts, _SEED), pretrained, cache_dir)


def _warn_untrained(encoder: encoders.TextEncoder) -> None:
    msg = (f"text_pretrained=None: {encoder.untrained_note()}; "
           "class text embeddings are UNTRAINED and results are NOT language-guided.")
    warnings.warn(msg, UserWarning, stacklevel=3)  # once: not also log.warning (users saw it twice)


def class_text_embeddings(
    class_names: Sequence[str],
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    model_name: str = "ViT-B-32",
    pretrained: str | None = "openai",
    cache_dir: str | Path | None = None,
    device: str = "cpu",
    encoder: str = "open_clip",
    prompts: list[list[str]] | None = None,
) -> Tensor:
    """(K, D) float32 unit-norm class embeddings: per class, the normalised mean over its prompts of the
    normalised text embeddings (CLIP's prompt ensembling).

    `prompts` (K rows, maybe of different lengths: mmlgnet.text.prompts.class_prompts) replaces the
    templates filled with the class names. `encoder`/`model_name`/`pretrained` choose the text encoder
    (`pretrained`: an open_clip tag, checkpoint file, preset, or None for a randomly initialised encoder
    under a fixed seed, which warns loudly). Results are cached in `cache_dir` (default
    `default_cache_dir()`) keyed by the encoder's identity (model, weights, prompts, library version); a
    cache hit never builds the model. A cached file is validated on every load (shape, finite, unit norm,
    sha256 checksum: `text_cache.read_valid`); an invalid one gives one TextCacheWarning and is recomputed
    and rewritten atomically. Nothing of the text model stays in memory after the call. Raises
    ClipWeightsError (with how to provide the weights) when they cannot be obtained, TextCacheError when
    the cache folder cannot be written, and ConfigError for an unknown model name or encoder.
    """
    enc = encoders.make_encoder(encoder, model_name, pretrained, device)
    rows = prompts if prompts is not None else build_prompts(class_names, templates)
    if len(rows) != len(class_names):
        raise ValueError(f"{len(rows)} prompt rows for {len(class_names)} classes")
    identity = enc.identity(rows)
    path = text_cache.cache_file(identity, pretrained, cache_dir)
    if pretrained is None:
        _warn_untrained(enc)
    cached = text_cache.load(path, identity, enc.width)  # None: missing or invalid (warned)
    if cached is not None:
        log.info("text embeddings: cache hit %s", path)
        return cached
    text_cache.ensure_writable(path.parent, cache_dir)  # fail before building the model

    log.info("text embeddings: %s %s (pretrained=%s), cache miss %s", encoder, model_name, pretrained, path)
    try:
        emb = encoders.encode(enc, rows, path)  # (K, D)
    finally:
        gc.collect()  # the model was dropped inside encode_texts
    text_cache.save(path, emb, identity, cache_dir)
    return emb
