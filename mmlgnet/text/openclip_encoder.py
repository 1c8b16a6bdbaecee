"""The open_clip text encoder: a CLIP text tower built from a tag, a checkpoint file, a preset, or untrained.

Weights are found in this order: a local file; a remote-sensing preset (mmlgnet.text.presets); an open_clip
tag, looked up in the Hugging Face cache first and otherwise downloaded by huggingface_hub (its offline mode
HF_HUB_OFFLINE, its endpoint HF_ENDPOINT and its HTTP client's proxies: mmlgnet.text.hub). Whatever cannot be
found fails fast with a ClipWeightsError that says how to provide it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import open_clip
import torch
import torch.nn.functional as F
from open_clip.pretrained import download_pretrained, get_pretrained_cfg, list_pretrained_tags_by_model
from torch import Tensor

from mmlgnet.errors import ConfigError
from mmlgnet.text import hub, presets
from mmlgnet.text.openclip_model import CLIP_CONFIG_DIR as CLIP_CONFIG_DIR
from mmlgnet.text.openclip_model import SEED as SEED
from mmlgnet.text.openclip_model import ClipWeightsError as ClipWeightsError
from mmlgnet.text.openclip_model import untrained_model as untrained_model

log = logging.getLogger(__name__)

SCHEMAS = ("hf-hub:", "local-dir:")
_EXAMPLE_MODELS = ("ViT-B-32", "ViT-B-32-quickgelu", "ViT-B-16", "ViT-L-14", "RN50", "mmlgnet-tiny")


def is_path_like(pretrained: str) -> bool:
    return os.sep in pretrained or "/" in pretrained or pretrained.endswith((".bin", ".pt", ".pth", ".safetensors"))


def guidance(model_name: str, pretrained: str | None, cache_file: Path) -> str:
    tag = pretrained if pretrained and not is_path_like(pretrained) else "openai"
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


def _resolve_tag(model_name: str, tag: str, cache_file: Path) -> tuple[str, bool]:
    """A pretrained tag → (local checkpoint path, quick_gelu); Hugging Face cache first, fail fast."""
    cfg = get_pretrained_cfg(model_name, tag)
    if not cfg:
        raise ClipWeightsError(
            f"{tag!r} is neither an existing file, a preset ({', '.join(presets.PRESETS)}) nor a known pretrained "
            f"tag of {model_name!r} (known tags: {list_pretrained_tags_by_model(model_name)}).\n"
            + guidance(model_name, tag, cache_file)
        )
    quick_gelu = bool(cfg.get("quick_gelu", False))
    hub_file = cfg.get("hf_hub", "")
    if hub_file:
        repo_id, filename = os.path.split(hub_file)
        names = ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"] if not filename else [filename]
        for name in names:
            path = hub.cached(repo_id, name)
            if path is not None:
                return path, quick_gelu
    if hub.offline():
        raise ClipWeightsError(
            "offline (HF_HUB_OFFLINE is set) and the weights are not in the Hugging Face cache.\n"
            + guidance(model_name, tag, cache_file)
        )
    try:
        return download_pretrained(cfg), quick_gelu  # huggingface_hub (endpoint, proxies) or the tag's URL
    except Exception as e:
        where = f"from {hub.endpoint()} " if hub_file else ""
        raise ClipWeightsError(f"download {where}failed: {e}\n" + guidance(model_name, tag, cache_file)) from e


def create_model(model_name: str, pretrained: str | None, device: str, cache_file: Path) -> torch.nn.Module:
    """Build the open_clip model with the requested weights (the full model: open_clip has no text-only build)."""
    if pretrained is None:
        return untrained_model(model_name, device)
    preset = presets.parse(pretrained)
    if preset is not None:
        return presets.load(preset[0], preset[1], model_name, device)
    if os.path.isfile(pretrained):
        checkpoint, quick_gelu = pretrained, False
    elif is_path_like(pretrained) or model_name.startswith(SCHEMAS):
        if not model_name.startswith(SCHEMAS):
            raise ClipWeightsError(f"checkpoint file {pretrained} does not exist.\n" + guidance(model_name, pretrained, cache_file))
        checkpoint, quick_gelu = pretrained, False
    else:
        checkpoint, quick_gelu = _resolve_tag(model_name, pretrained, cache_file)
    try:
        return open_clip.create_model(model_name, pretrained=checkpoint, force_quick_gelu=quick_gelu, device=device)
    except Exception as e:
        raise ClipWeightsError(
            f"loading CLIP weights from {checkpoint} failed: {e}\n" + guidance(model_name, pretrained, cache_file)
        ) from e


def check_model_name(model_name: str) -> None:
    """ConfigError unless `model_name` is a registered open_clip model (or an hf-hub:/local-dir: one)."""
    if not model_name.startswith(SCHEMAS) and model_name not in open_clip.list_models():
        known = open_clip.list_models()
        examples = [m for m in _EXAMPLE_MODELS if m in known] + known[:5]
        raise ConfigError(f"--model.text_model: unknown open_clip model {model_name!r}; expected a registered name, "
                          f"e.g. one of {examples} (see open_clip.list_models()), or hf-hub:ORG/NAME (with "
                          "--model.text_encoder sentence_transformers: a sentence-transformers model)")


def embed_dim(model_name: str) -> int | None:
    """The text embedding width D of a registered model config (None for hf-hub:/local-dir: models)."""
    if model_name.startswith(SCHEMAS):
        return None
    cfg = open_clip.get_model_config(model_name) or {}
    return int(cfg["embed_dim"]) if "embed_dim" in cfg else None


class OpenClipEncoder:
    """TextEncoder over an open_clip model: unit-norm text-tower embeddings of each prompt.

    The model is built inside `encode_texts` and dropped before it returns, so nothing of CLIP outlives it.
    """

    kind = "open_clip"

    def __init__(self, model_name: str, pretrained: str | None, device: str = "cpu") -> None:
        check_model_name(model_name)
        presets.check(pretrained, model_name)
        self.model_name, self.pretrained, self.device = model_name, pretrained, device
        self.width = embed_dim(model_name)

    def identity(self, prompts: list[list[str]]) -> dict[str, Any]:
        from mmlgnet.text import cache

        return cache.cache_identity(self.model_name, self.pretrained, prompts, SEED)

    def untrained_note(self) -> str:
        return f"the {self.model_name} text tower is randomly initialised (seed {SEED})"

    @torch.no_grad()
    def encode_texts(self, texts: list[str], cache_file: Path) -> Tensor:
        """(N, D) float32 unit-norm embeddings of `texts`, on the CPU."""
        model = create_model(self.model_name, self.pretrained, self.device, cache_file)
        try:
            model.eval()
            tokens = open_clip.get_tokenizer(self.model_name)(texts).to(self.device)  # (N, L)
            encode_text = cast(Callable[[Tensor], Tensor], model.encode_text)  # CLIP / CustomTextCLIP method
            return F.normalize(encode_text(tokens).float(), dim=-1).cpu()  # (N, D)
        finally:
            del model
