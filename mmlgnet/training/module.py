"""LightningModule: the thin training shell around MMLGNet, its text head, the InfoNCE loss and the metrics."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, cast

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torchmetrics.classification import MulticlassConfusionMatrix

import mmlgnet
from mmlgnet.atomic import write_json
from mmlgnet.errors import CheckpointError, ConfigError
from mmlgnet.models.mmlgnet import LinearHead, MMLGNet, Modality, TextHead
from mmlgnet.text import coop
from mmlgnet.text.embeddings import DEFAULT_TEMPLATES, class_text_embeddings
from mmlgnet.text.prompts import prompts_for
from mmlgnet.text.renamed import REMOVED, reject_removed_options
from mmlgnet.training import augment as augmentation
from mmlgnet.training import checkpoints, open_vocab, optim, runtime
from mmlgnet.training import network as network_contract
from mmlgnet.training.losses import InfoNCELoss
from mmlgnet.training.metrics import metric_key, scores_from_confusion
from mmlgnet.training.open_vocab import OpenVocabulary

log = logging.getLogger(__name__)


class MMLGNetModule(L.LightningModule):
    """Trains MMLGNet to align fused HSI+LiDAR pixel embeddings with frozen CLIP class-prompt embeddings.

    Args (the data-decided ones, num_classes/class_names/hsi_channels/lidar_channels/scene_name and
    class_descriptions, are linked from the datamodule by the CLI and never written in configs):
        modalities: `[hsi, lidar]`, `[hsi]` or `[lidar]` (single-modality ablations).
        hsi_encoder / lidar_encoder, hsi_widths / lidar_widths, fusion, fusion_dim, dropout: MMLGNet's network
            (the default, when `network` is not given).
        network: any torch.nn.Module as the backbone (class_path / init_args; the network contract,
            mmlgnet.training.network): built with hsi_bands, lidar_bands, patch_size (linked from the data) and
            out_dim = its `reference_out_dim` or `network_out_dim`; the head sits on its features (B, out_dim).
        head: `text` (align with CLIP prompt embeddings) or `linear` (visual-only cross-entropy baseline).
        loss: `symmetric` (λ = 0.5), `v2t` (λ = 1) or `t2v` (λ = 0); ignored by the linear head.
        text_encoder: `open_clip` (a CLIP text tower) or `sentence_transformers` (a BERT-like sentence encoder).
        text_model / text_pretrained: the text model (open_clip name, or sentence-transformers directory / hub
            id) and its weights (open_clip tag, checkpoint path, `hf-hub:` id, preset name, or None = untrained).
        clip_model / clip_pretrained: REMOVED (renamed text_model / text_pretrained); giving them is a ConfigError.
        prompt_templates: templates filled with each class name; None = mmlgnet.text.embeddings.DEFAULT_TEMPLATES.
        prompts: `templates`, `descriptions` (per-class sentences) or `both` (mmlgnet.text.prompts).
        descriptions: a YAML file (class -> sentences) or a shipped set (trento, muufl, houston2013, synthetic);
            None = the card's class_descriptions (linked from the data as class_descriptions), else the set
            shipped for the scene.
        prompt_learning: `none` (frozen template embeddings) or `coop` (learned context vectors run through the
            frozen open_clip text tower while fitting; mmlgnet.text.coop). prompt_context: N context vectors;
            prompt_context_class_specific: one context per class instead of one shared; prompt_context_init: words
            to start the context from (as many tokens as N), None = N(0, 0.02²).
        unseen_classes: classes held out of training (linked from --data.unseen_classes): training and validation
            logits range over the seen classes' embeddings only, test/predict over all K (mmlgnet.training.open_vocab).
        predict_class_names: predict only: map with this class list (renamed/merged/added classes, embedded by
            the text encoder) instead of the trained one; not saved in the checkpoint.
        embed_dim: MMLGNet's projection width for the linear head (the text head uses the text model's width);
            a `network` under the linear head has no projection (its features go to Linear(out_dim, K)).
        optimizer: `adamw` (default), `adam`, `nadam` or `sgd`: the torch optimiser, with `lr` and torch's own
            defaults otherwise (betas (0.9, 0.999), eps 1e-8); momentum: SGD's momentum (0 for the others).
        weight_decay: what the chosen torch optimiser means by it: DECOUPLED for AdamW (w ← w − lr·λ·w beside the
            Adam step), COUPLED for adam/nadam/sgd (λ·w added to the gradient: the gradient of an L2 term in the
            loss; c·Σw² in the loss (Keras l2(c)) is weight_decay 2c, c·Σw²/2 (TF c·l2_loss) is weight_decay c).
        weight_decay_on: `weights` (default: parameters with > 1 dimension, no biases nor normalisation
            scales/shifts) or `all` (every parameter); the text head's logit_scale is never decayed.
        scheduler: `cosine` (annealed to 0 over trainer.max_epochs), `none`, or `step` (StepLR: lr·lr_gamma every
            lr_step_size epochs); per epoch. All of these live in mmlgnet.training.optim.
        augment: training batches only (never validation/test/predict): `none` (default), `flip`, `rot90`,
            `dihedral`, `flip_or_rot90` or `two_branch`: one random flip/rotation per sample, the same for its HSI
            and LiDAR patches, drawn from the run seed (mmlgnet.training.augment says each kind's distribution).
    """

    def __init__(
        self,
        num_classes: int = 6,
        class_names: list[str] | None = None,
        hsi_channels: int = 63,
        lidar_channels: int = 1,
        patch_size: int = 11,
        scene_name: str = "",
        class_descriptions: dict[str, list[str]] | None = None,
        unseen_classes: list[str] | None = None,
        predict_class_names: list[str] | None = None,
        modalities: Sequence[Modality] = ("hsi", "lidar"),
        network: network_contract.NetworkFactory | None = None,
        network_out_dim: int = 256,
        hsi_encoder: Literal["cnn2d", "cnn3d"] = "cnn2d",
        lidar_encoder: Literal["cnn2d", "cnn3d"] = "cnn2d",
        hsi_widths: Sequence[int] = (64, 128, 256),
        lidar_widths: Sequence[int] = (32, 64, 128),
        fusion: Literal["concat", "sum", "gated"] = "concat",
        fusion_dim: int = 256,
        dropout: float = 0.1,
        head: Literal["text", "linear"] = "text",
        loss: Literal["symmetric", "v2t", "t2v"] = "symmetric",
        text_encoder: Literal["open_clip", "sentence_transformers"] = "open_clip",
        text_model: str = "ViT-B-32",
        text_pretrained: str | None = "openai",
        prompt_templates: Sequence[str] | None = None,
        prompts: Literal["templates", "descriptions", "both"] = "templates",
        descriptions: str | None = None,
        prompt_learning: Literal["none", "coop"] = "none",
        prompt_context: int = 16,
        prompt_context_class_specific: bool = False,
        prompt_context_init: str | None = None,
        text_cache_dir: str | None = None,
        logit_scale_init: float = 1 / 0.07,
        logit_scale_max: float = 100.0,
        embed_dim: int = 512,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        scheduler: Literal["cosine", "none", "step"] = "cosine",
        optimizer: Literal["adamw", "adam", "nadam", "sgd"] = "adamw",
        momentum: float = 0.0,
        weight_decay_on: Literal["weights", "all"] = "weights",
        lr_step_size: int = 30,
        lr_gamma: float = 0.5,
        augment: augmentation.AugmentName = "none",
        clip_model: str | None = REMOVED,
        clip_pretrained: str | None = REMOVED,
    ) -> None:
        super().__init__()
        reject_removed_options(clip_model=clip_model, clip_pretrained=clip_pretrained)
        optim.OptimOptions(optimizer, lr, weight_decay, weight_decay_on, momentum, scheduler, lr_step_size,
                           lr_gamma).check()  # a ConfigError before anything is built
        if augment not in augmentation.KINDS:
            raise ConfigError(f"--model.augment {augment!r}: expected one of {list(augmentation.KINDS)}")
        self.augment = str(augment)
        self.save_hyperparameters(ignore=["clip_model", "clip_pretrained", "predict_class_names"])  # predict-time
        if network is not None and head == "linear":  # the head classifies the network's features directly
            embed_dim = network_contract.feature_width(network, network_out_dim)
        names = list(class_names) if class_names else [f"class {k + 1}" for k in range(num_classes)]
        if len(names) != num_classes:
            raise ValueError(f"class_names has {len(names)} names for num_classes={num_classes}.")
        self.class_names = names
        # held-out classes (seen-only training logits, GZSL test scores) and predict's class list: mmlgnet.training.open_vocab
        self.open_vocab = OpenVocabulary(names, unseen_classes, head, predict_class_names,
                                         str(self.hparams.get("prompt_learning", "none")))
        if predict_class_names is not None:  # the text head embeds the new list; its checkpoint rows are set aside
            names = self.class_names = list(predict_class_names)
        if prompt_learning not in coop.PROMPT_LEARNING or (prompt_learning == "coop" and head != "text"):
            raise ConfigError(f"--model.prompt_learning: expected one of {list(coop.PROMPT_LEARNING)} ('coop' with "
                              f"--model.head text), got {prompt_learning!r} with head {head!r}")
        if prompt_learning == "coop" and prompts != "templates":  # CoOp learns the context of the class name
            raise ConfigError(f"--model.prompts {prompts} with --model.prompt_learning coop: CoOp learns context "
                              "vectors before the class name and uses no descriptions; use --model.prompts templates")
        self.coop: coop.CoopPrompts | None = None  # learned prompts (CoOp); None: frozen template embeddings
        if head == "text" and prompt_learning == "coop":
            self.coop = coop.CoopPrompts(names, text_model, text_pretrained, prompt_context,
                                         prompt_context_class_specific, text_encoder, unseen_classes, prompts,
                                         prompt_templates, prompt_context_init)
        if head == "text":
            templates = tuple(prompt_templates) if prompt_templates else DEFAULT_TEMPLATES
            text = self.coop.placeholder() if self.coop is not None else class_text_embeddings(  # (K, D)
                names, templates, text_model, text_pretrained, text_cache_dir, encoder=text_encoder,
                prompts=prompts_for(names, prompts, templates, descriptions, class_descriptions, scene_name))
            embed_dim = int(text.shape[1])
            self.head: torch.nn.Module = TextHead(text, logit_scale_init, logit_scale_max)
            self.criterion: torch.nn.Module | None = InfoNCELoss(loss)
        elif head == "linear":
            self.head, self.criterion = LinearHead(embed_dim, num_classes), None
        else:
            raise ValueError(f"head={head!r}: use 'text' or 'linear'.")
        self.net: torch.nn.Module = MMLGNet(  # the default network: built as it always was (same init order)
            hsi_channels, lidar_channels, tuple(modalities), hsi_encoder, lidar_encoder, tuple(hsi_widths),
            tuple(lidar_widths), fusion, fusion_dim, embed_dim, dropout,
        ) if network is None else network_contract.vision_side(
            network, head=head, hsi_bands=hsi_channels, lidar_bands=lidar_channels, patch_size=patch_size,
            text_dim=embed_dim, network_out_dim=network_out_dim)
        self.val_confusion = MulticlassConfusionMatrix(num_classes)
        self.test_confusion = MulticlassConfusionMatrix(num_classes)
        # Set by the CLI's --allow_untrained (an attribute, not a hyperparameter: never saved in a checkpoint).
        self.allow_untrained = False
        # global_step/epochs of the weights now in the model: from the loaded checkpoint, or from a fit in
        # this process; None = never trained (fresh random weights).
        self.trained: dict[str, int] | None = None

    # ---- trained or not ----
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse a checkpoint trained on other classes or band counts (before its weights are loaded), and
        remember how long the loaded weights were trained."""
        saved = checkpoint.get("hyper_parameters") or {}
        lines = checkpoints.data_differences(open_vocab.on_load_checkpoint(self, checkpoint), self.hparams)
        if lines:
            ckpt = self._trainer.ckpt_path if self._trainer is not None else None
            scenes = f"(trained on {saved.get('scene_name')!r}, given {self.hparams.get('scene_name')!r})"
            raise CheckpointError(
                f"--ckpt_path {ckpt} was trained on other data than the scene given {scenes}:\n" + "\n".join(lines) +
                "\nA scene the model is applied to needs the same class_names (same order) and band/channel counts: "
                "fix its card (band subset, class_names) or --data.lidar_channels, or train a model for this scene."
            )
        coop.check_checkpoint(checkpoint, self.hparams, self._trainer.ckpt_path if self._trainer else None)
        self.trained = checkpoints.trained_state(checkpoint)

    def on_train_end(self) -> None:
        self.trained = {"global_step": int(self.trainer.global_step), "epochs": int(self.trainer.current_epoch)}

    def trained_state(self) -> dict[str, int]:
        return dict(self.trained) if self.trained else {"global_step": 0, "epochs": 0}

    def require_trained(self, action: str) -> None:
        """Raise UntrainedModelError before `action` (test/predict) records results of untrained weights."""
        if self.trained_state()["global_step"] > 0 or self.allow_untrained:
            return
        raise checkpoints.untrained_error(action, self._trainer.ckpt_path if self._trainer is not None else None)

    def on_test_start(self) -> None:
        self.require_trained("test")
        self.open_vocab.check_test()

    def on_predict_start(self) -> None:
        self.require_trained("predict")

    # ---- forward / steps ----
    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """batch with `hsi` (B, C_hsi, P, P) and/or `lidar` (B, C_lidar, P, P) -> logits (B, K)."""
        v = self.net(batch.get("hsi"), batch.get("lidar"))  # (B, D)
        if self.coop is not None and self.coop.encoder is not None and self.training:
            return self.head(v, self.coop())  # (B, K): learned prompts, gradient to their context
        return self.head(v)  # (B, K)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.augment != "none":  # training only: one flip/rotation per sample, the same for both modalities
            seed = _global_seed()
            generator = augmentation.step_generator(torch.initial_seed() if seed is None else seed,
                                                    self.current_epoch, batch_idx, self.global_rank)
            batch = augmentation.augment_batch(batch, ("hsi", "lidar"), self.augment, generator)
        logits, y = self.open_vocab.training_logits(self(batch), batch["target"])  # seen classes only
        bs = len(y)
        if self.criterion is None:
            loss = F.cross_entropy(logits, y)
        else:
            parts = self.criterion(*self._global_batch(logits, y))
            loss = parts["loss"]
            self.log_dict({"train/v2t": parts["v2t"], "train/t2v": parts["t2v"]}, on_epoch=True, on_step=False,
                          batch_size=bs, sync_dist=True)
            if isinstance(self.head, TextHead):
                self.log("train/logit_scale", self.head.scale, on_epoch=True, on_step=False, batch_size=bs)
        aux = network_contract.auxiliary_loss(self.net)  # a contract network's own loss term (EndNet)
        if aux is not None:
            self.log("train/auxiliary", aux, on_epoch=True, on_step=False, batch_size=bs, sync_dist=True)
            loss = loss + aux
        self.log("train/loss", loss, prog_bar=True, on_epoch=True, on_step=True, batch_size=bs, sync_dist=True)
        return loss

    def _global_batch(self, logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Under DDP: logits (R·B, K) and targets (R·B,) of all R ranks, gathered with gradient; else unchanged.

        L_t→v is a softmax over the batch axis, so each rank needs every rank's pixels for the loss to equal
        the single-process loss on the global batch of R·B pixels (v2t, a mean over pixels, is then global
        too). Gradient factor: every rank computes the same global loss L. all_gather's backward SUMS the
        R ranks' gradients w.r.t. each slice, so rank r receives R·∂L/∂z_r for its own logits z_r; DDP
        then AVERAGES parameter gradients over ranks (÷R): (1/R)·Σ_r R·(∂L/∂z_r)(∂z_r/∂θ) = ∂L/∂θ, exactly
        the single-process gradient. (Without sync_grads, each rank would get only (1/R)·its own share.)
        """
        trainer = self._trainer
        if trainer is None or trainer.world_size <= 1:
            return logits, y
        all_logits = cast(torch.Tensor, self.all_gather(logits, sync_grads=True))  # (R, B, K)
        all_y = cast(torch.Tensor, self.all_gather(y))  # (R, B)
        return all_logits.flatten(0, 1), all_y.flatten(0, 1)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if isinstance(self.head, TextHead):
            self.head.clamp_()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.val_confusion.update(self.open_vocab.seen_predictions(self(batch)), batch["target"])

    def on_validation_epoch_end(self) -> None:
        scores = scores_from_confusion(self.val_confusion.compute())
        self.log_dict({f"val/{k}": scores[k].float() for k in ("OA", "AA", "kappa")}, prog_bar=True)
        self.val_confusion.reset()

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.test_confusion.update(self(batch).argmax(dim=1), batch["target"])

    def on_test_epoch_end(self) -> None:
        confusion = self.test_confusion.compute()  # (K, K), summed over ranks
        scores = scores_from_confusion(confusion)
        self.log_dict({f"test/{k}": scores[k].float() for k in ("OA", "AA", "kappa")})
        self.log_dict({f"test/acc_{metric_key(n)}": scores["per_class"][i].float()  # classes with test pixels
                       for i, n in enumerate(self.class_names) if bool(confusion[i].sum() > 0)})
        self.test_confusion.reset()
        out_dir = Path(self.trainer.log_dir or self.trainer.default_root_dir)  # every rank: a collective under DDP
        if self.trainer.is_global_zero:
            self._write_test_metrics(confusion, scores, out_dir)

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        logits = self(batch)
        return {"index": batch["index"], "pred": logits.argmax(dim=1), "score": logits.softmax(dim=1).amax(dim=1)}

    # ---- results ----
    def _write_test_metrics(self, confusion: torch.Tensor, scores: dict[str, torch.Tensor], out_dir: Path) -> None:
        dm: Any = getattr(self.trainer, "datamodule", None)  # set by Lightning at run time, not a declared attribute
        record = {
            "scene": self.hparams["scene_name"] or getattr(dm, "scene_name", ""),
            "OA": float(scores["OA"]), "AA": float(scores["AA"]), "kappa": float(scores["kappa"]),
            # NaN for a class without test pixels: write_json stores it as null (strict JSON)
            "per_class_accuracy": {n: float(scores["per_class"][i]) for i, n in enumerate(self.class_names)},
            "confusion_matrix": confusion.cpu().tolist(),
            "split": dm.split_summary() if hasattr(dm, "split_summary") else None,
            "seed": _global_seed(),
            "checkpoint": str(self.trainer.ckpt_path) if self.trainer.ckpt_path else None,
            "trained": self.trained_state(),
            "allow_untrained": bool(self.allow_untrained),
            "variant": {k: self.hparams[k] for k in ("modalities", "head", "loss", "fusion", "text_encoder",
                                                      "text_model", "text_pretrained", "prompt_learning",
                                                      "prompts", "descriptions")},
            "num_test_pixels": int(confusion.sum()),
            "mmlgnet_version": mmlgnet.__version__,
            "environment": runtime.environment(self.device),  # threads, device, torch build: what else decides numbers
        }
        record.update(self.open_vocab.test_record(confusion))  # seen/unseen accuracy, H (with held-out classes)
        path = write_json(out_dir / "test_metrics.json", record)
        log.info("wrote %s", path)

    # ---- optimisation ----
    def configure_optimizers(self) -> Any:
        """The optimiser and per-epoch schedule of the options (mmlgnet.training.optim)."""
        options = optim.OptimOptions(**{k: self.hparams[k] for k in optim.OPTION_NAMES})  # hparams: lr_find may set lr
        opt = optim.build_optimizer(self.named_parameters(), options.check())
        sched = optim.build_scheduler(opt, options, int(self.trainer.max_epochs or 1))
        if sched is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}

    def configure_callbacks(self) -> list[Callback]:
        """`last.ckpt` always; plus the best-val/OA checkpoint when a validation set exists (never test)."""
        callbacks: list[Callback] = [ModelCheckpoint(save_last=True, save_top_k=0)]
        if self.coop is not None:
            callbacks.insert(0, coop.CoopTraining())  # before ModelCheckpoint: the tower exists when it saves
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None and getattr(dm, "val_fraction", 0) > 0:
            callbacks.append(ModelCheckpoint(monitor="val/OA", mode="max", save_top_k=1,
                                             filename="best-epoch{epoch:03d}-OA{val/OA:.2f}",
                                             auto_insert_metric_name=False))
        return callbacks


def _global_seed() -> int | None:
    seed = os.environ.get("PL_GLOBAL_SEED")
    return int(seed) if seed is not None else None
