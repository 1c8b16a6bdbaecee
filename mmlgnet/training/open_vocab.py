"""Open-vocabulary use of a trained model: seen-only training logits, seen/unseen/H test scores, predicting with
another class list than the one trained on.

Held-out classes (`--data.unseen_classes`, linked into the module as `unseen_classes`) follow the standard
zero-shot protocol: while training and validating, the logits are restricted to the SEEN classes' text
embeddings, so the model meets neither the unseen classes' pixels nor their prompts, not even as negatives
of the InfoNCE softmax (the v→t softmax runs over the seen prompts only; the t→v one over seen columns only).
Test and predict score all K classes (generalised zero-shot, GZSL), and test_metrics.json gains the GZSL
scores of mmlgnet.training.metrics.open_vocab_scores.

`predict_class_names` maps a scene with another class list (renamed, merged or added classes): the text head's
class embeddings are those of the new names (from the text encoder, as at training), and the checkpoint's
embeddings are set aside when its weights are loaded; class ids, legend and prediction.tif use the new list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from mmlgnet.errors import CheckpointError, ConfigError
from mmlgnet.training.metrics import open_vocab_scores

PREDICT_OPTION = "--model.predict_class_names"
UNSEEN_OPTION = "--data.unseen_classes"
CLASS_CHECKS = ("num_classes", "class_names")  # data-state checks that another class list makes moot


class OpenVocabulary:
    """Which of the K classes training may see, and the class list predict maps with.

    Args:
        class_names: the K classes of the data (label order).
        unseen_classes: names of the held-out classes (resolved by the datamodule from --data.unseen_classes).
        head: the module's head; `linear` is refused with held-out classes or another predict list, because a
            linear classifier has no way to score a class it was never trained on (its row for that class
            stays at its random initialisation): only the text head, which scores a class by its prompt, can.
        predict_class_names: predict with this class list instead of `class_names` (None: the trained list).
        prompt_learning: the module's prompt learning (`none`/`coop`); a learned context (CoOp) is refused with
            another predict list (the learned embeddings of the trained classes are what the checkpoint holds).
    """

    def __init__(self, class_names: Sequence[str], unseen_classes: Sequence[str] | None = None, head: str = "text",
                 predict_class_names: Sequence[str] | None = None, prompt_learning: str = "none") -> None:
        self.class_names = list(class_names)
        unseen = list(unseen_classes or [])
        unknown = [n for n in unseen if n not in self.class_names]
        if unknown or len(set(unseen)) != len(unseen):
            raise ConfigError(f"{UNSEEN_OPTION}: held-out classes {unseen} are not distinct classes of "
                              f"{self.class_names} (unknown: {unknown}); give names or 1-based ids of this scene.")
        if unseen and len(unseen) >= len(self.class_names):
            raise ConfigError(f"{UNSEEN_OPTION} {unseen} holds out every class: nothing is left to train on.")
        if unseen and head != "text":
            raise ConfigError(
                f"--model.head {head} cannot score classes held out of training ({UNSEEN_OPTION} {unseen}): a linear "
                f"classifier's row for a class it never saw stays random. Use --model.head text (classes scored "
                f"by their prompts), or drop {UNSEEN_OPTION}.")
        self.unseen = tuple(sorted(self.class_names.index(n) for n in unseen))  # 0-based
        self.seen = tuple(i for i in range(len(self.class_names)) if i not in self.unseen)
        self.predict_class_names = _check_predict_names(predict_class_names, head, prompt_learning)
        self._index: dict[torch.device, tuple[Tensor, Tensor]] = {}

    # ---- training/validation over the seen classes ----
    def _tables(self, device: torch.device) -> tuple[Tensor, Tensor]:
        """(K_s,) seen class ids and (K,) id -> position among the seen classes (−1 for unseen), on `device`."""
        if device not in self._index:
            seen = torch.tensor(self.seen, dtype=torch.long, device=device)
            remap = torch.full((len(self.class_names),), -1, dtype=torch.long, device=device)
            remap[seen] = torch.arange(len(self.seen), device=device)
            self._index[device] = (seen, remap)
        return self._index[device]

    def _refuse_predict_list(self, stage: str) -> None:
        if self.predict_class_names is not None:
            raise ConfigError(f"{PREDICT_OPTION} applies to predict only (it gives the classes of the maps); "
                              f"drop it from {stage}.")

    def training_logits(self, logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """logits (B, K), targets (B,) in 0..K−1 -> logits (B, K_s) over the seen classes, targets among them.

        Identity (the same tensors) without held-out classes. Training batches hold seen pixels only (the
        split drops the unseen ones), so every target has a position among the seen classes.
        """
        self._refuse_predict_list("fit")
        if not self.unseen:
            return logits, target
        seen, remap = self._tables(logits.device)
        return logits.index_select(1, seen), remap[target]  # (B, K_s), (B,)

    def seen_predictions(self, logits: Tensor) -> Tensor:
        """Validation: (B, K) -> (B,) class ids 0..K−1, argmax over the seen classes only (model selection
        must not see the unseen prompts either)."""
        self._refuse_predict_list("validate")
        if not self.unseen:
            return logits.argmax(dim=1)
        seen, _ = self._tables(logits.device)
        return seen[logits.index_select(1, seen).argmax(dim=1)]

    # ---- test ----
    def check_test(self) -> None:
        self._refuse_predict_list("test")

    def test_record(self, confusion: Tensor) -> dict[str, Any]:
        """The GZSL entries of test_metrics.json (none without held-out classes)."""
        if not self.unseen:
            return {}
        return {**open_vocab_scores(confusion, self.unseen),
                "unseen_classes": [self.class_names[i] for i in self.unseen],
                "seen_classes": [self.class_names[i] for i in self.seen]}

    # ---- checkpoints ----
    def adopt_checkpoint(self, saved: Mapping[str, Any], fitting: bool, ckpt: Any) -> OpenVocabulary:
        """The held-out classes the checkpoint was TRAINED with win for test/predict: a checkpoint trained with
        unseen classes reports seen/unseen scores even when --data.unseen_classes is not repeated (the test
        pixels are the same either way). Giving other held-out classes than the checkpoint's is an error,
        and so is any difference when resuming a fit (the training data would change midway)."""
        # a checkpoint written before held-out classes existed (no key) was trained on every class of its data
        trained = [str(n) for n in saved.get("unseen_classes") or []]
        given = [self.class_names[i] for i in self.unseen]
        if sorted(trained) == sorted(given):
            return self
        if given or fitting:
            raise CheckpointError(
                f"--ckpt_path {ckpt} was trained with {UNSEEN_OPTION} {trained}, given {given}. Give the held-out "
                f"classes it was trained with (or none: test/predict then use the checkpoint's), or fit a new model.")
        if self.predict_class_names is not None:
            return self  # another class list: seen/unseen of the training list do not apply to the maps
        return OpenVocabulary(self.class_names, trained, "text", None)

    def data_to_check(self, saved: Mapping[str, Any]) -> dict[str, Any]:
        """The checkpoint's hyperparameters to compare with the data: without the class list when predict maps
        with another one (the scene's labels are then not what the model predicts)."""
        if self.predict_class_names is None:
            return dict(saved)
        return {k: v for k, v in saved.items() if k not in CLASS_CHECKS}

    def replace_head_state(self, checkpoint: dict[str, Any], head: torch.nn.Module, prefix: str = "head.") -> None:
        """With another predict list: put the head's buffers (the new class embeddings, (K', D)) in place of the
        checkpoint's (K, D) ones, so the weights load and the new embeddings are used. Parameters (logit_scale)
        stay the checkpoint's."""
        if self.predict_class_names is None:
            return
        state = checkpoint.get("state_dict")
        if not isinstance(state, dict):
            return
        for name, buf in head.named_buffers():
            state[prefix + name] = buf.detach().clone()

    def data_state(self, state: dict[str, Any] | None) -> dict[str, Any] | None:
        """The checkpoint's datamodule state for the scene given: without its class list when predict maps with
        another list (no class-name check against the scene)."""
        if not state or self.predict_class_names is None:
            return state
        return {**state, "class_names": []}


def _check_predict_names(names: Sequence[str] | None, head: str, prompt_learning: str) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(n, str) and n.strip() for n in names) or not names:
        raise ConfigError(f"{PREDICT_OPTION} {names!r}: expected a non-empty list of class names, e.g. "
                          f"{PREDICT_OPTION} '[Trees, Buildings, Roads]'.")
    doubled = sorted({n for n in names if list(names).count(n) > 1})
    if doubled:
        raise ConfigError(f"{PREDICT_OPTION} {list(names)!r}: {doubled} given twice; each class once (to merge "
                          f"classes, give the merged class one name).")
    if head != "text":
        raise ConfigError(f"{PREDICT_OPTION} needs --model.head text (classes scored by their prompts); the "
                          f"checkpoint's head is {head!r}, which can only output the classes it was trained on.")
    if prompt_learning != "none":
        raise ConfigError(f"{PREDICT_OPTION} is not supported with --model.prompt_learning {prompt_learning}: the "
                          f"checkpoint holds the learned embeddings of the trained classes only.")
    return list(names)


def on_load_checkpoint(module: Any, checkpoint: dict[str, Any]) -> dict[str, Any]:
    """MMLGNetModule.on_load_checkpoint (before the weights and the datamodule state load): adopt the checkpoint's
    held-out classes, swap in the predict list's class embeddings (and drop the class list from the datamodule
    state, whose check would refuse the scene), and return the hyperparameters to check the data against."""
    saved = checkpoint.get("hyper_parameters") or {}
    trainer = getattr(module, "_trainer", None)
    fitting = trainer is not None and trainer.state.fn == "fit"  # TrainerFn.FITTING (a str enum)
    ckpt = trainer.ckpt_path if trainer is not None else None
    ov: OpenVocabulary = module.open_vocab.adopt_checkpoint(saved, fitting, ckpt)
    module.open_vocab = ov
    ov.replace_head_state(checkpoint, module.head)
    for key, value in checkpoint.items():  # the datamodule's state (transfer.data_state), restored after the model
        if isinstance(value, dict) and "stats" in value and "class_names" in value:
            checkpoint[key] = ov.data_state(value)
    return ov.data_to_check(saved)


def check_subcommand(subcommand: str | None, model: Any) -> None:
    """CLI: --model.predict_class_names only with the predict subcommand."""
    ov = getattr(model, "open_vocab", None)
    if subcommand not in (None, "predict") and ov is not None and ov.predict_class_names is not None:
        ov._refuse_predict_list(subcommand)


def map_classes(module: Any, class_names: Sequence[str], palette: Sequence[Sequence[int]]
                ) -> tuple[list[str], Sequence[Sequence[int]], bool]:
    """The class list of the prediction maps (prediction.png/.tif, maps.json): the model's when predict maps
    another one (--model.predict_class_names), else the scene's.

    Returns (names, palette, comparable): `comparable` is False when the model's list is not the scene's, so
    its class ids cannot be compared with the scene's labels (no test scores, error map or confusion); the
    palette is then () (the maps' default colours: the scene's colours belong to its own classes).
    """
    names = [str(n) for n in (getattr(module, "class_names", None) or class_names)]
    if names == [str(n) for n in class_names]:
        return names, palette, True
    return names, (), False
