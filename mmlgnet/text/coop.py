"""CoOp-style learnable prompts (Zhou et al., "Learning to Prompt for Vision-Language Models", IJCV 2022).

Instead of fixed templates, each class prompt is "X_1 ... X_N <class name>." where the N context vectors X_i
are learned word embeddings, shared by all classes (default) or one set per class. The prompt is run through
the FROZEN open_clip text tower exactly as `CLIP.encode_text` runs token ids (token embeddings + positional
embedding -> transformer with its causal attention mask -> ln_final -> pooling at the end-of-text token ->
text_projection), so the gradient of the alignment loss reaches the context vectors and nothing of the tower.

Lifecycle (why the tower never reaches a checkpoint):
  * `CoopPrompts` (a submodule of MMLGNetModule) holds only the context parameter; it is built without the
    tower (widths come from the open_clip model config), so test/predict never build a text tower.
  * `CoopTraining` (a callback the module adds) builds the frozen tower at fit start (`CoopPrompts.attach`),
    writes the class embeddings of the current context into the TextHead buffer before every validation,
    checkpoint save and at the end of training, and frees the tower when the fit ends. The tower is kept
    outside the module's registered children: it is never in a state_dict, an optimizer or DDP.
Initialisation: by default the context is drawn from N(0, 0.02²) (CoOp's random initialisation) under the
global seed; `context_init` words (e.g. "a remote sensing image of a", as many tokens as context vectors) start
it at those words' token embeddings instead (CoOp's "a photo of a" initialisation), so that the first
prompts are exactly "<words> <class name>.". That needs the tower, so it happens when the tower is attached
at the first fit start, never after the context was loaded from a checkpoint (a resumed fit keeps it).
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Sequence
from typing import Any

import lightning as L
import open_clip
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from open_clip.transformer import text_global_pool
from torch import Tensor, nn

from mmlgnet.errors import CheckpointError, ConfigError
from mmlgnet.text import embeddings, openclip_encoder, presets

PROMPT_LEARNING = ("none", "coop")
CONTEXT_INIT_STD = 0.02  # CoOp's random initialisation of the context vectors
_PLACEHOLDER_WORD = "X"  # the token whose embeddings the context vectors replace (as in CoOp)
_BUFFER = "head.class_embeddings"  # the TextHead buffer the final class embeddings are stored in


def text_widths(model_name: str, encoder: str = "open_clip") -> tuple[int, int, int]:
    """(token width W, output embedding width D, context length L) of a registered open_clip model config."""
    if encoder != "open_clip":
        raise ConfigError(f"--model.prompt_learning coop: --model.text_encoder {encoder!r} is not supported; CoOp "
                          "needs the token embeddings of an open_clip text tower. Use --model.text_encoder open_clip "
                          "or --model.prompt_learning none.")
    cfg = open_clip.get_model_config(model_name) if model_name in open_clip.list_models() else None
    text_cfg = (cfg or {}).get("text_cfg") or {}
    if not cfg or "hf_model_name" in text_cfg or "width" not in text_cfg:
        raise ConfigError(f"--model.prompt_learning coop: --model.text_model {model_name!r} is not a registered "
                          "open_clip model with a CLIP text transformer (hf-hub:, local-dir: and Hugging Face text "
                          "towers are not supported). Use e.g. ViT-B-32 (with --model.text_pretrained for its "
                          "weights) or mmlgnet-tiny, or --model.prompt_learning none.")
    return int(text_cfg["width"]), int(cfg["embed_dim"]), int(text_cfg.get("context_length", 77))


class FrozenTextTower(nn.Module):
    """The text half of an open_clip CLIP model, frozen and always in eval mode, fed with token *embeddings*.

    `forward(x, tokens)` reproduces `CLIP.encode_text(tokens)` with the token-embedding lookup replaced by
    the given (K, L, W) embeddings `x`; `tokens` (K, L) only locate the end-of-text token for pooling.
    """

    def __init__(self, clip: nn.Module) -> None:
        super().__init__()
        src: Any = clip if hasattr(clip, "token_embedding") else getattr(clip, "text", None)
        if (src is None or not hasattr(src, "token_embedding") or getattr(src, "cls_emb", None) is not None
                or getattr(src, "use_pad_mask", False)):
            raise ConfigError(f"--model.prompt_learning coop: the text tower of {type(clip).__name__} is not a plain "
                              "CLIP text transformer (token embedding, causal mask, end-of-text pooling); use a "
                              "CLIP model such as ViT-B-32, or --model.prompt_learning none.")
        self.token_embedding: nn.Embedding = src.token_embedding
        self.positional_embedding: nn.Parameter = src.positional_embedding
        self.transformer: nn.Module = src.transformer
        self.ln_final: nn.Module = src.ln_final
        self.text_projection: Any = src.text_projection
        self.pool_type = str(getattr(src, "text_pool_type", None) or getattr(src, "pool_type", "argmax"))
        self.eos_id = getattr(src, "text_eos_id", None) or getattr(src, "eos_id", None)
        self.attn_mask: Tensor | None
        self.register_buffer("attn_mask", src.attn_mask, persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FrozenTextTower:
        """Always eval: the tower is frozen (no dropout, fixed statistics) whatever the LightningModule does."""
        return super().train(False)

    def cast_dtype(self) -> torch.dtype:
        return self.transformer.get_cast_dtype()  # type: ignore[operator]

    def forward(self, x: Tensor, tokens: Tensor) -> Tensor:
        """x (K, L, W) token embeddings, tokens (K, L) ids -> (K, D) text features (not normalised)."""
        length = x.shape[1]  # L, or fewer when the prompts were cropped after their end-of-text token
        mask = None if self.attn_mask is None else self.attn_mask[:length, :length]
        x = x.to(self.cast_dtype()) + self.positional_embedding[:length].to(self.cast_dtype())  # (K, L, W)
        x = self.transformer(x, attn_mask=mask)  # (K, L, W)
        x = self.ln_final(x)
        x = text_global_pool(x, tokens, self.pool_type, eos_token_id=self.eos_id)  # (K, W)
        if self.text_projection is not None:
            x = self.text_projection(x) if isinstance(self.text_projection, nn.Linear) else x @ self.text_projection
        return x  # (K, D)


class CoopEncoder(nn.Module):
    """The frozen tower plus the fixed parts of the K prompts "SOS X_1..X_N <name>. EOT pad...".

    prefix (K, 1, W) and suffix (K, L-1-N, W) are the frozen token embeddings around the N context slots.
    `crop` (exact, default) ends the sequences at the last end-of-text token instead of the context length.
    """

    def __init__(
        self, clip: nn.Module, model_name: str, class_names: Sequence[str], n_ctx: int, crop: bool = True
    ) -> None:
        super().__init__()
        self.tower = FrozenTextTower(clip)
        tokenizer = open_clip.get_tokenizer(model_name)
        length = int(self.tower.positional_embedding.shape[0])
        encode = getattr(tokenizer, "encode", None)
        for name in class_names:
            prompt = self.prompt_text(name, n_ctx)
            if encode is not None and len(encode(prompt)) + 2 > length:  # + start and end-of-text tokens
                raise ConfigError(f"--model.prompt_context {n_ctx}: the prompt {prompt!r} of class {name!r} needs "
                                  f"{len(encode(prompt)) + 2} tokens, more than the text model's context length "
                                  f"{length}; use fewer context vectors or a shorter class name.")
        tokens = tokenizer([self.prompt_text(n, n_ctx) for n in class_names])  # (K, L)
        if crop and self.tower.attn_mask is not None and self.tower.pool_type == "argmax":
            # Causal attention: no position attends to a later one, so the padding after the last end-of-text
            # token cannot change the pooled features: dropping it is exact and saves most of the tower's cost.
            tokens = tokens[:, : int(tokens.argmax(dim=-1).max()) + 1]  # (K, L') with L' <= L
        with torch.no_grad():
            emb = self.tower.token_embedding(tokens)  # (K, L, W)
        self.n_ctx = n_ctx
        self.tokens: Tensor
        self.prefix: Tensor
        self.suffix: Tensor
        self.register_buffer("tokens", tokens, persistent=False)
        self.register_buffer("prefix", emb[:, :1].clone(), persistent=False)  # SOS
        self.register_buffer("suffix", emb[:, 1 + n_ctx:].clone(), persistent=False)  # name, '.', EOT, padding

    @staticmethod
    def prompt_text(class_name: str, n_ctx: int) -> str:
        """The token sequence whose placeholder words the context replaces: "X X ... X <name>." (lower case)."""
        return " ".join([_PLACEHOLDER_WORD] * n_ctx + [class_name.lower().replace("_", " ")]) + "."

    def forward(self, context: Tensor) -> Tensor:
        """context (N, W) shared or (K, N, W) class-specific -> (K, D) unit-norm class embeddings (float32)."""
        k = self.tokens.shape[0]
        ctx = context.unsqueeze(0).expand(k, -1, -1) if context.ndim == 2 else context  # (K, N, W)
        x = torch.cat([self.prefix, ctx.to(self.prefix.dtype), self.suffix], dim=1)  # (K, L, W)
        return F.normalize(self.tower(x, self.tokens).float(), dim=-1)  # (K, D)


class CoopPrompts(nn.Module):
    """The learnable context of CoOp (a parameter, saved in checkpoints) and, while fitting, its frozen encoder.

    `forward()` -> (K, D) unit-norm class embeddings of the current context (needs `attach` first).
    """

    def __init__(
        self,
        class_names: Sequence[str],
        model_name: str = "ViT-B-32",
        pretrained: str | None = "openai",
        n_ctx: int = 16,
        class_specific: bool = False,
        encoder: str = "open_clip",
        unseen_classes: Sequence[str] | None = None,
        prompts: str = "templates",
        prompt_templates: Sequence[str] | None = None,
        context_init: str | None = None,
    ) -> None:
        super().__init__()
        width, self.embed_dim, length = text_widths(model_name, encoder)
        self.context_init = context_init.strip() if context_init else None
        if self.context_init:
            count = _token_count(model_name, self.context_init)
            if count != n_ctx:
                raise ConfigError(f"--model.prompt_context_init {context_init!r} is {count} tokens for {model_name!r} "
                                  f"but --model.prompt_context is {n_ctx}: give as many context vectors as tokens "
                                  f"(--model.prompt_context {count}) or other words.")
        if prompts != "templates" or prompt_templates:
            raise ConfigError(f"--model.prompt_learning coop learns the words around each class name: "
                              f"--model.prompts {prompts!r} / --model.prompt_templates {prompt_templates!r} would "
                              "be ignored. Drop them (prompts: templates, prompt_templates: null) or use "
                              "--model.prompt_learning none.")
        if class_specific and unseen_classes:
            raise ConfigError(f"--model.prompt_context_class_specific true with --data.unseen_classes "
                              f"{list(unseen_classes)}: a held-out class's own context never receives a gradient, so "
                              "its embedding would stay at its initialisation. Use the shared context "
                              "(--model.prompt_context_class_specific false) for open-vocabulary runs.")
        presets.check(pretrained, model_name)  # fail now, not at fit start, on a preset of another architecture
        if not 1 <= n_ctx <= length - 3:
            raise ConfigError(f"--model.prompt_context: expected 1..{length - 3} context vectors for {model_name!r} "
                              f"(context length {length}), got {n_ctx}")
        self.class_names = list(class_names)
        self.model_name, self.pretrained, self.n_ctx = model_name, pretrained, n_ctx
        shape = (len(self.class_names), n_ctx, width) if class_specific else (n_ctx, width)
        self.context = nn.Parameter(torch.randn(shape) * CONTEXT_INIT_STD)  # (N, W) or (K, N, W)
        self.__dict__["_encoder"] = None  # not a registered child: never in state_dict / optimizer / DDP
        self.__dict__["_initialised"] = not self.context_init  # word init waits for the tower

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__["_initialised"] = True  # a context from a checkpoint is never re-initialised
        super()._load_from_state_dict(*args, **kwargs)

    @property
    def encoder(self) -> CoopEncoder | None:
        return self.__dict__["_encoder"]

    def placeholder(self) -> Tensor:
        """(K, D) zeros: the TextHead buffer until the first embeddings are written from the context."""
        return torch.zeros(len(self.class_names), self.embed_dim)

    def attach(self, device: torch.device | str = "cpu") -> CoopEncoder:
        """Build (once) the frozen text tower on `device`; returns the encoder (tests keep it to inspect it)."""
        if self.encoder is None:
            if self.pretrained is None:
                warnings.warn(f"text_pretrained=None: CoOp trains its context through a randomly initialised "
                              f"{self.model_name} text tower; results are NOT language-guided.", UserWarning,
                              stacklevel=2)
            cache_file = embeddings.cache_path(self.model_name, self.pretrained, [self.class_names])
            clip = openclip_encoder.create_model(self.model_name, self.pretrained, "cpu", cache_file)
            self.__dict__["_encoder"] = CoopEncoder(clip, self.model_name, self.class_names, self.n_ctx)
            del clip
            gc.collect()
        enc = self.encoder
        assert enc is not None
        if not self.__dict__["_initialised"] and self.context_init:
            ids = open_clip.get_tokenizer(self.model_name)([self.context_init])[0, 1:1 + self.n_ctx]  # (N,)
            with torch.no_grad():
                words = enc.tower.token_embedding(ids.to(enc.tokens.device))  # (N, W)
                self.context.copy_(words.expand_as(self.context))  # shared (N, W) or per class (K, N, W)
            self.__dict__["_initialised"] = True
        return enc.to(device)

    def release(self) -> None:
        """Free the text tower (after fitting: test/predict use the embeddings stored in the TextHead)."""
        self.__dict__["_encoder"] = None
        gc.collect()

    def forward(self) -> Tensor:
        if self.encoder is None:
            raise RuntimeError("CoopPrompts: no text tower attached (call attach() first; only fitting needs it)")
        return self.encoder(self.context)  # (K, D)


def _token_count(model_name: str, words: str) -> int:
    """Tokens of `words` (without start/end-of-text) under the model's tokenizer."""
    ids = open_clip.get_tokenizer(model_name)([words])[0]  # (L,)
    return int(ids.argmax()) - 1  # the end-of-text token has the largest id


def store_embeddings(pl_module: Any) -> Tensor:
    """Write the class embeddings of the current context into the TextHead buffer; returns the buffer."""
    with torch.no_grad():
        text = pl_module.coop()  # (K, D)
    pl_module.head.set_class_embeddings_(text)
    return pl_module.head.class_embeddings


class CoopTraining(Callback):
    """Keeps the frozen tower only while fitting and the TextHead buffer in step with the learned context."""

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.coop.attach(pl_module.device)  # type: ignore[union-attr, operator]

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if pl_module.coop.encoder is not None:  # type: ignore[union-attr]
            store_embeddings(pl_module)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        if pl_module.coop.encoder is not None:  # type: ignore[union-attr]
            checkpoint["state_dict"][_BUFFER] = store_embeddings(pl_module).detach().clone().cpu()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        store_embeddings(pl_module)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.coop.release()  # type: ignore[union-attr, operator]


_CHECKED = ("prompt_learning", "prompt_context", "prompt_context_class_specific")


def check_checkpoint(checkpoint: dict[str, Any], hparams: Any, ckpt_path: Any = None) -> None:
    """Refuse a checkpoint whose prompt learning differs from the model's (no silent template fallback), and a
    CoOp checkpoint whose class embeddings were never written from its context."""
    saved = checkpoint.get("hyper_parameters") or {}
    defaults = {"prompt_learning": "none"}
    lines = [f"  {k}: checkpoint {saved.get(k, defaults.get(k))!r} vs model {hparams.get(k, defaults.get(k))!r}"
             for k in _CHECKED if saved.get(k, defaults.get(k)) != hparams.get(k, defaults.get(k))
             and (k == "prompt_learning" or hparams.get("prompt_learning") == "coop")]
    if lines:
        raise CheckpointError(f"--ckpt_path {ckpt_path}: the checkpoint's prompt learning differs from the model's:\n"
                              + "\n".join(lines) + "\nA CoOp checkpoint holds learned class embeddings and a template "
                              "one holds template embeddings: give the checkpoint's --model.prompt_learning / "
                              "--model.prompt_context options (or drop yours), or train a model with the ones you want.")
    if hparams.get("prompt_learning") == "coop" and hparams.get("head", "text") == "text":
        stored = (checkpoint.get("state_dict") or {}).get(_BUFFER)
        if stored is None or not bool(torch.all(stored.float().norm(dim=-1) > 0.5)):
            raise CheckpointError(f"--ckpt_path {ckpt_path}: a CoOp checkpoint without learned class embeddings "
                                  f"({_BUFFER} is missing or zero): it was not written by a fit of mmlgnet with "
                                  "--model.prompt_learning coop. Re-run fit to write one.")
