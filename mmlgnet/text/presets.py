"""Remote-sensing CLIP presets: `--model.text_pretrained remoteclip | georsclip | skyclip[:/local/file.pt]`.

The architecture is `--model.text_model` (an open_clip name); the preset says where that architecture's
weights live and its RECIPE: how its authors build the model they load them into (the activation, GELU or
OpenAI's QuickGELU: the keys load either way, so a wrong choice silently changes every embedding) and how
strictly they load. The recipe is explicit per architecture (`Recipe`, `recipe()`), logged when a model is
built, and part of the text-cache key and of the run fingerprint (mmlgnet.text.weights_id). Sources, read in
the upstream repositories:

- **remoteclip** (Liu et al. 2024, RemoteCLIP): Hugging Face repo `chendelong/RemoteCLIP`, files
  `RemoteCLIP-<arch>.pt` for RN50, ViT-B-32 and ViT-L-14: a plain open_clip state dict, loaded STRICTLY into
  the **QuickGELU** model. Our choice, from the evidence in github.com/ChenDelong1999/RemoteCLIP: the authors'
  own evaluation script (`retrieval.py` of the README's "Retrieval Evaluation", `remoteclip_retrieval.py` in
  the repository) builds `open_clip.create_model_and_transforms(model_name, pretrained='openai')` (QuickGELU)
  and then load_state_dict(checkpoint) strictly, and the models were trained with ITRA continuing from the
  OpenAI CLIP weights (QuickGELU). The README's "Load RemoteCLIP" snippet and demo.ipynb build
  `create_model_and_transforms(model_name)` (GELU): a demo that differs from how the published numbers were
  measured, so we follow the evaluation script.
- **georsclip** (Zhang et al. 2024, RS5M / GeoRSCLIP): Hugging Face repo `Zilun/GeoRSCLIP`, files
  `ckpt/RS5M_<arch>.pt`, loaded NON-strictly, as github.com/om-ai-lab/RS5M `inference/inference.py`
  (build_model) does: ViT-B-32 into `create_model_and_transforms("ViT-B/32", pretrained="openai")`
  (**QuickGELU**), ViT-H-14 into `create_model_and_transforms("ViT-H/14", pretrained="laion2b_s32b_b79k")`
  (**GELU**), then load_state_dict(checkpoint, strict=False). Keys that did not load are logged; a missing
  TEXT-tower key is an error (the class embeddings would be partly random), a missing visual key is not (we
  never use the image tower). Unlike the authors we do not load the base weights first: only the text tower
  matters here, and it must come entirely from the checkpoint.
- **skyclip** (Wang et al. 2024, SkyScript): no Hugging Face copy; the authors publish zip files at
  https://opendatasharing.s3.us-west-2.amazonaws.com/SkyScript/ckpt/SkyCLIP_ViT_B32_top50pct.zip (ViT-B-32)
  and .../SkyCLIP_ViT_L14_top30pct.zip (ViT-L-14) (README of github.com/wangzhecheng/SkyScript). They hold
  open_clip training checkpoints ({"epoch", "state_dict" with "module."-prefixed keys, ...}); unzip and give
  the .pt file as `skyclip:/path/epoch_20.pt`: it is never downloaded automatically. Loaded strictly; ViT-L-14
  into **QuickGELU**, ViT-B-32 into **GELU**: SkyScript's evaluation notebook
  (test_scene_and_fine_grained_classification.ipynb) adds `--force-quick-gelu` only for ViT-L-14 ("because the
  ViT-L-14 model is initialized with the OpenAI model"; the README trains ViT-L-14 from `openai` and ViT-B-32
  from `laion2b_e16`).

An architecture a preset does not publish (a local file only) has no published recipe: it is built with the
activation of its own open_clip config, and the load warns. A hub preset is taken from the Hugging Face cache
first and downloaded by huggingface_hub otherwise (its offline mode and endpoint: mmlgnet.text.hub); offline
and not cached, it fails fast saying how to give the file.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from mmlgnet.errors import ConfigError

log = logging.getLogger(__name__)

Activation = Literal["gelu", "quick_gelu"]
ACTIVATION_NAMES: dict[str, str] = {"gelu": "GELU", "quick_gelu": "QuickGELU"}
_REMOTECLIP = ("github.com/ChenDelong1999/RemoteCLIP retrieval.py (remoteclip_retrieval.py): "
               "create_model_and_transforms(model_name, pretrained='openai') then a strict load_state_dict")
_RS5M = "github.com/om-ai-lab/RS5M inference/inference.py build_model"
_SKYSCRIPT = ("github.com/wangzhecheng/SkyScript test_scene_and_fine_grained_classification.ipynb: "
              "--force-quick-gelu only for ViT-L-14")


@dataclass(frozen=True)
class Preset:
    """Where a remote-sensing CLIP's weights are and the recipe their authors load them with."""

    name: str
    activations: tuple[tuple[str, Activation], ...]  # (published architecture, the activation it is built with)
    hub_repo: str | None  # Hugging Face repo id, None: no hub copy (local file only)
    filename: str  # file name in the repo, "{arch}" replaced by the architecture
    strict: bool  # load_state_dict strictness (the authors' recipe)
    recipe_source: str  # where the recipe is read from (upstream file)
    source: str  # where a user gets the file by hand

    @property
    def archs(self) -> tuple[str, ...]:
        """The open_clip architectures the authors publish."""
        return tuple(arch for arch, _ in self.activations)


@dataclass(frozen=True)
class Recipe:
    """How one architecture of a preset is built and loaded: the open_clip model's activation and the
    strictness of load_state_dict, with where that comes from. `key()` enters the text-cache key and the
    run fingerprint, so a recipe change never serves embeddings made by another recipe."""

    preset: str
    arch: str
    activation: Activation
    strict: bool
    source: str

    def create_kwargs(self) -> dict[str, Any]:
        """The open_clip.create_model keyword arguments that realise the activation."""
        return {"force_quick_gelu": self.activation == "quick_gelu"}

    def key(self) -> dict[str, Any]:
        return {"arch": self.arch, "activation": self.activation, "strict": self.strict}

    def describe(self) -> str:
        load = "strict" if self.strict else "non-strict"
        return f"{self.arch} with {ACTIVATION_NAMES[self.activation]}, {load} load ({self.source})"


PRESETS: dict[str, Preset] = {
    "remoteclip": Preset("remoteclip", (("ViT-B-32", "quick_gelu"), ("ViT-L-14", "quick_gelu"), ("RN50", "quick_gelu")),
                         "chendelong/RemoteCLIP", "RemoteCLIP-{arch}.pt", True, _REMOTECLIP,
                         "https://huggingface.co/chendelong/RemoteCLIP"),
    "georsclip": Preset("georsclip", (("ViT-B-32", "quick_gelu"), ("ViT-H-14", "gelu")), "Zilun/GeoRSCLIP",
                        "ckpt/RS5M_{arch}.pt", False, _RS5M, "https://huggingface.co/Zilun/GeoRSCLIP"),
    "skyclip": Preset("skyclip", (("ViT-B-32", "gelu"), ("ViT-L-14", "quick_gelu")), None, "epoch_20.pt", True,
                      _SKYSCRIPT,
                      "https://opendatasharing.s3.us-west-2.amazonaws.com/SkyScript/ckpt/"
                      "SkyCLIP_ViT_B32_top50pct.zip (ViT-B-32) or SkyCLIP_ViT_L14_top30pct.zip (ViT-L-14)"),
}


def recipe(preset: Preset, arch: str) -> Recipe:
    """The recipe of `arch` under `preset`: the published one, else (an architecture the authors do not
    publish, given as a local file) the activation of the architecture's own open_clip config."""
    published = dict(preset.activations)
    if arch in published:
        return Recipe(preset.name, arch, published[arch], preset.strict, preset.recipe_source)
    import open_clip

    own: Activation = "quick_gelu" if (open_clip.get_model_config(arch) or {}).get("quick_gelu") else "gelu"
    return Recipe(preset.name, arch, own, preset.strict,
                  f"no published {preset.name} recipe for {arch}: the activation of its open_clip config")


def parse(pretrained: str | None) -> tuple[Preset, str | None] | None:
    """`remoteclip` -> (preset, None); `remoteclip:/x.pt` -> (preset, "/x.pt"); anything else -> None."""
    if not pretrained:
        return None
    name, sep, path = pretrained.partition(":")
    preset = PRESETS.get(name.strip().lower())
    if preset is None:
        return None
    return preset, (path.strip() or None) if sep else None


def check(pretrained: str | None, arch: str) -> None:
    """Fail early (ConfigError) on a hub preset asked for an architecture its authors do not publish."""
    parsed = parse(pretrained)
    if parsed is None:
        return
    preset, path = parsed
    if path is None and arch not in preset.archs:
        raise ConfigError(
            f"--model.text_pretrained {pretrained}: the {preset.name} preset publishes {list(preset.archs)}, not "
            f"--model.text_model {arch!r}. Use one of those, or give a local file of this architecture as "
            f"{preset.name}:/path/to/checkpoint.pt."
        )


def instructions(preset: Preset, arch: str) -> str:
    """How to give the preset's file by hand (for offline machines)."""
    file = preset.filename.format(arch=arch)
    if preset.hub_repo is None:
        get = f"download and unzip {preset.source}"
    else:
        get = (f"on a connected machine run `hf download {preset.hub_repo} {file}` (huggingface_hub's CLI; or let "
               f"mmlgnet download it there: the file lands in the Hugging Face cache; copy ~/.cache/huggingface over)")
    return (f"To use the {preset.name} weights offline: {get}, then pass --model.text_pretrained "
            f"{preset.name}:/path/to/{Path(file).name} (with --model.text_model {arch}).")


def weights_file(preset: Preset, path: str | None, arch: str) -> str:
    """The local checkpoint file: `path`, or the hub file from the Hugging Face cache, or downloaded now."""
    from mmlgnet.text import hub
    from mmlgnet.text.openclip_model import ClipWeightsError

    if path is not None:
        if not os.path.isfile(path):
            raise ClipWeightsError(f"--model.text_pretrained {preset.name}:{path}: no such file. "
                                   + instructions(preset, arch))
        if Path(path).name != Path(preset.filename.format(arch=arch)).name:
            log.info("%s preset: loading %s (the authors' file for %s is named %s)", preset.name, path, arch,
                     Path(preset.filename.format(arch=arch)).name)
        return path
    if preset.hub_repo is None:
        raise ClipWeightsError(f"--model.text_pretrained {preset.name}: these weights are not on the Hugging Face "
                               "hub and are never downloaded automatically. " + instructions(preset, arch))
    try:
        return hub.download(preset.hub_repo, preset.filename.format(arch=arch))
    except hub.HubUnavailable as e:
        raise ClipWeightsError(f"--model.text_pretrained {preset.name}: {e}. " + instructions(preset, arch)) from e


def read_state_dict(path: str, mmap: bool = False) -> dict[str, torch.Tensor]:
    """The model state dict in a checkpoint file: a plain state dict, or an open_clip training checkpoint
    ({"state_dict": ...}, keys maybe prefixed "module." by DDP). Loaded with weights_only (no code runs);
    `mmap` maps the tensors instead of reading them (a cheap check of a large file)."""
    from mmlgnet.text.openclip_model import ClipWeightsError

    try:
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
        except RuntimeError as e:  # a legacy (non-zip) torch.save file cannot be memory-mapped: read it
            if not mmap or "mmap" not in str(e):
                raise
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ClipWeightsError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: "
                               f"{str(e).splitlines()[0][:200] if str(e) else ''}). Expected a CLIP state dict "
                               "saved with torch.save.") from e
    sd = raw.get("state_dict", raw) if isinstance(raw, dict) else None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ClipWeightsError(f"{path}: expected a CLIP state dict (name -> tensor), or a training checkpoint "
                               f"holding one under 'state_dict'; found {type(raw).__name__}.")
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k.removeprefix("module."): v for k, v in sd.items()}
    return sd


def load(preset: Preset, path: str | None, arch: str, device: str = "cpu") -> torch.nn.Module:
    """The open_clip model `arch` with the preset's weights, built and loaded by the preset's recipe."""
    from mmlgnet.text.openclip_model import ClipWeightsError, untrained_model

    file = weights_file(preset, path, arch)
    how = recipe(preset, arch)
    if arch not in preset.archs:
        log.warning("%s preset: %r is not one of the published architectures %s; loading %s into it anyway (%s)",
                    preset.name, arch, list(preset.archs), file, how.describe())
    else:
        log.info("%s preset: %s", preset.name, how.describe())
    sd = read_state_dict(file)
    model = untrained_model(arch, device, quick_gelu=how.create_kwargs()["force_quick_gelu"])
    try:
        result = model.load_state_dict(sd, strict=how.strict)
    except RuntimeError as e:  # strict mismatch, or a shape mismatch in either mode
        raise ClipWeightsError(
            f"--model.text_pretrained {preset.name}: {file} does not fit open_clip {arch!r}: "
            f"{' '.join(str(e).split())[:600]}. Check --model.text_model (the preset publishes {list(preset.archs)})."
        ) from e
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    if missing or unexpected:
        log.warning("%s preset: non-strict load of %s into %s (%s): %d missing key(s) %s, %d unexpected key(s) %s",
                    preset.name, file, arch, ACTIVATION_NAMES[how.activation], len(missing), missing[:10],
                    len(unexpected), unexpected[:10])
    text_missing = [k for k in missing if not k.startswith("visual.")]
    if text_missing:
        raise ClipWeightsError(
            f"--model.text_pretrained {preset.name}: {file} lacks {len(text_missing)} text-tower weight(s) of {arch} "
            f"(e.g. {text_missing[:5]}): the class embeddings would be partly random. Check --model.text_model."
        )
    return model.to(device)


#: A key every CLIP text tower has (top level in open_clip's CLIP, under `text.` in its CustomTextCLIP).
TEXT_TOWER_KEYS = ("token_embedding.weight", "text.token_embedding.weight")
