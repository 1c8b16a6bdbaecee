"""The text-encoder interface and its factory: one module per backend (open_clip, sentence-transformers).

`run_weights` gives the weights identity of a run's text model, whichever the backend (for the run fingerprint).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from mmlgnet.errors import ConfigError, UserError

TEXT_ENCODERS = ("open_clip", "sentence_transformers")
#: The open_clip architecture a config without `model.text_model` gets (MMLGNetModule's default).
DEFAULT_ARCH = "ViT-B-32"


class TextEncoder(Protocol):
    """What the embedding cache needs of a backend. It builds its model inside `encode_texts` and drops it
    before returning, so no text tower outlives the encoding (the (K, D) result is all that is kept)."""

    kind: str
    width: int | None  # D when known without loading the model (validates cached files), else None

    def identity(self, prompts: list[list[str]]) -> dict[str, Any]:
        """Everything that decides the embeddings (model, weights, prompts, library version): the cache key.
        Has at least `model_name`, `pretrained` and `prompts`."""
        ...

    def untrained_note(self) -> str:
        """What an untrained (text_pretrained null) encoder is, for the warning."""
        ...

    def encode_texts(self, texts: list[str], cache_file: Path) -> Tensor:
        """(N, D) float32 unit-norm embeddings of `texts` on the CPU (`cache_file` is named in weight errors)."""
        ...


def make_encoder(kind: str, model_name: str, pretrained: str | None, device: str = "cpu") -> TextEncoder:
    """The backend `kind` (`--model.text_encoder`) for this model and weights; nothing is loaded yet."""
    if kind == "open_clip":
        from mmlgnet.text.openclip_encoder import OpenClipEncoder

        return OpenClipEncoder(model_name, pretrained, device)
    if kind == "sentence_transformers":
        from mmlgnet.text.st_encoder import SentenceTransformerEncoder

        return SentenceTransformerEncoder(model_name, pretrained, device)
    raise ConfigError(f"--model.text_encoder: expected one of {list(TEXT_ENCODERS)}, got {kind!r}")


def encode(encoder: TextEncoder, prompts: list[list[str]], cache_file: Path) -> Tensor:
    """(K, D) unit-norm class embeddings: per class (row), the normalised mean of its prompts' unit embeddings."""
    if not prompts or any(not row for row in prompts):
        raise ValueError("every class needs at least one prompt")
    feats = encoder.encode_texts([p for row in prompts for p in row], cache_file)  # (N, D)
    counts = torch.tensor([len(row) for row in prompts])  # (K,)
    owner = torch.repeat_interleave(torch.arange(len(prompts)), counts)  # (N,) class of each prompt
    sums = torch.zeros(len(prompts), feats.shape[1]).index_add_(0, owner, feats)  # (K, D)
    return F.normalize(sums / counts[:, None], dim=-1)


def run_weights(model: Mapping[str, Any] | None) -> dict[str, Any]:
    """The weights identities of a run's `model` config section, for the run fingerprint: the open_clip
    checkpoint behind `text_pretrained` (a file or a preset), or the sentence-transformers folder behind
    `text_model`. Empty for a tag or an untrained tower (the config value and the versions say it all)."""
    from mmlgnet.text import presets
    from mmlgnet.text.weights_id import folder_identity, weights_identity

    model = model or {}
    if model.get("text_encoder") == "sentence_transformers":
        from mmlgnet.text import st_encoder

        name = str(model.get("text_model"))
        try:
            source, local = st_encoder.resolve(name)
        except UserError as e:  # the run will refuse it with this message
            return {"model.text_model": {"kind": "folder", "unresolved": str(e)}}
        return {"model.text_model": folder_identity(source)} if local else {}
    pretrained = model.get("text_pretrained")
    if not isinstance(pretrained, str) or (presets.parse(pretrained) is None and not os.path.isfile(pretrained)):
        return {}
    arch = str(model.get("text_model") or DEFAULT_ARCH)
    return {"model.text_pretrained": weights_identity(pretrained, arch, fetch=False)}
