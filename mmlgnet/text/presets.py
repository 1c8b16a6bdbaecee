"""Remote-sensing CLIP presets: `--model.text_pretrained remoteclip | georsclip | skyclip[:/local/file.pt]`.

The architecture is `--model.text_model` (an open_clip name); the preset says where that architecture's
weights live and how their authors load them:

- **remoteclip** (Liu et al. 2024, RemoteCLIP): Hugging Face repo `chendelong/RemoteCLIP`, files
  `RemoteCLIP-<arch>.pt` for ViT-B-32, ViT-L-14 and RN50: a plain open_clip state dict, loaded STRICTLY into
  `open_clip.create_model(<arch>)` (the authors' README: create_model_and_transforms(model_name) then
  load_state_dict(ckpt)).
- **georsclip** (Zhang et al. 2024, RS5M / GeoRSCLIP): Hugging Face repo `Zilun/GeoRSCLIP`, files
  `ckpt/RS5M_<arch>.pt` for ViT-B-32 and ViT-H-14, loaded NON-strictly into the QuickGELU (OpenAI)
  architecture, as the authors do (create_model_and_transforms("ViT-B/32", pretrained="openai") then
  load_state_dict(ckpt, strict=False)). Keys that did not load are logged; a missing TEXT-tower key is an
  error (the class embeddings would be partly random), a missing visual key is not (we never use the image
  tower). Unlike the authors we do not load OpenAI weights first: only the text tower matters here, and it
  must come entirely from the checkpoint.
- **skyclip** (Wang et al. 2024, SkyScript): no Hugging Face copy; the authors publish zip files at
  https://opendatasharing.s3.us-west-2.amazonaws.com/SkyScript/ckpt/SkyCLIP_ViT_B32_top50pct.zip (ViT-B-32)
  and .../SkyCLIP_ViT_L14_top30pct.zip (ViT-L-14) (README of github.com/wangzhecheng/SkyScript). They hold
  open_clip training checkpoints ({"epoch", "state_dict" with "module."-prefixed keys, ...}); unzip and give
  the .pt file as `skyclip:/path/epoch_20.pt`: it is never downloaded automatically.

Could not confirm (no network here, and the search corpus did not show it): the exact member name inside the
SkyCLIP zips; whether SkyScript evaluates its ViT-L-14 (fine-tuned from OpenAI weights) with QuickGELU: we
assume it does (the OpenAI architecture) and ViT-B-32 (fine-tuned from laion2b_e16) without; whether the
GeoRSCLIP ViT-H-14 file is loaded into QuickGELU too (we treat all GeoRSCLIP files alike, as the preset says).
Online, a hub preset is looked up in the Hugging Face cache first and downloaded (huggingface_hub) otherwise;
offline (HF_HUB_OFFLINE, or no answer from huggingface.co) it fails fast saying how to give the file.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mmlgnet.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preset:
    """Where a remote-sensing CLIP's weights are and how they are loaded."""

    name: str
    archs: tuple[str, ...]  # open_clip architectures the authors publish
    hub_repo: str | None  # Hugging Face repo id, None: no hub copy (local file only)
    filename: str  # file name in the repo, "{arch}" replaced by the architecture
    quick_gelu: tuple[str, ...]  # architectures loaded into the QuickGELU (OpenAI) variant; "*": all
    strict: bool  # load_state_dict strictness (the authors' recipe)
    source: str  # where a user gets the file by hand

    def uses_quick_gelu(self, arch: str) -> bool:
        return "*" in self.quick_gelu or arch in self.quick_gelu


PRESETS: dict[str, Preset] = {
    "remoteclip": Preset("remoteclip", ("ViT-B-32", "ViT-L-14", "RN50"), "chendelong/RemoteCLIP",
                         "RemoteCLIP-{arch}.pt", (), True, "https://huggingface.co/chendelong/RemoteCLIP"),
    "georsclip": Preset("georsclip", ("ViT-B-32", "ViT-H-14"), "Zilun/GeoRSCLIP", "ckpt/RS5M_{arch}.pt",
                        ("*",), False, "https://huggingface.co/Zilun/GeoRSCLIP"),
    "skyclip": Preset("skyclip", ("ViT-B-32", "ViT-L-14"), None, "epoch_20.pt", ("ViT-L-14",), True,
                      "https://opendatasharing.s3.us-west-2.amazonaws.com/SkyScript/ckpt/"
                      "SkyCLIP_ViT_B32_top50pct.zip (ViT-B-32) or SkyCLIP_ViT_L14_top30pct.zip (ViT-L-14)"),
}


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


def identity(pretrained: str) -> dict[str, Any] | None:
    """The cache-key identity of a preset: its name, architecture-independent source and the file's stat."""
    parsed = parse(pretrained)
    if parsed is None:
        return None
    preset, path = parsed
    if path is None:
        return {"preset": preset.name, "hub": preset.hub_repo, "file": preset.filename}
    p = Path(path)
    if not p.is_file():
        return {"preset": preset.name, "missing_file": str(p)}
    st = p.stat()
    return {"preset": preset.name, "file": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _instructions(preset: Preset, arch: str) -> str:
    file = preset.filename.format(arch=arch)
    if preset.hub_repo is None:
        get = f"download and unzip {preset.source}"
    else:
        get = (f"on a connected machine run `huggingface-cli download {preset.hub_repo} {file}` (or let mmlgnet "
               f"download it there: the file lands in the Hugging Face cache; copy ~/.cache/huggingface over)")
    return (f"To use the {preset.name} weights offline: {get}, then pass --model.text_pretrained "
            f"{preset.name}:/path/to/{Path(file).name} (with --model.text_model {arch}).")


def weights_file(preset: Preset, path: str | None, arch: str) -> str:
    """The local checkpoint file: `path`, or the hub file from the Hugging Face cache, or downloaded now."""
    from mmlgnet.text.openclip_encoder import ClipWeightsError, offline

    if path is not None:
        if not os.path.isfile(path):
            raise ClipWeightsError(f"--model.text_pretrained {preset.name}:{path}: no such file. "
                                   + _instructions(preset, arch))
        if Path(path).name != Path(preset.filename.format(arch=arch)).name:
            log.info("%s preset: loading %s (the authors' file for %s is named %s)", preset.name, path, arch,
                     Path(preset.filename.format(arch=arch)).name)
        return path
    if preset.hub_repo is None:
        raise ClipWeightsError(f"--model.text_pretrained {preset.name}: these weights are not on the Hugging Face "
                               "hub and are never downloaded automatically. " + _instructions(preset, arch))
    from huggingface_hub import hf_hub_download

    file = preset.filename.format(arch=arch)
    try:
        return str(hf_hub_download(preset.hub_repo, file, local_files_only=True))
    except Exception:  # not cached
        pass
    if offline("huggingface.co"):
        raise ClipWeightsError(f"--model.text_pretrained {preset.name}: offline (HF_HUB_OFFLINE set or huggingface.co "
                               f"unreachable) and {preset.hub_repo}/{file} is not in the Hugging Face cache. "
                               + _instructions(preset, arch))
    try:
        return str(hf_hub_download(preset.hub_repo, file))
    except Exception as e:
        raise ClipWeightsError(f"--model.text_pretrained {preset.name}: downloading {preset.hub_repo}/{file} failed "
                               f"({type(e).__name__}: {e}). " + _instructions(preset, arch)) from e


def read_state_dict(path: str) -> dict[str, torch.Tensor]:
    """The model state dict in a checkpoint file: a plain state dict, or an open_clip training checkpoint
    ({"state_dict": ...}, keys maybe prefixed "module." by DDP). Loaded with weights_only (no code runs)."""
    from mmlgnet.text.openclip_encoder import ClipWeightsError

    try:
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
    """The open_clip model `arch` with the preset's weights, loaded by the authors' recipe."""
    from mmlgnet.text.openclip_encoder import ClipWeightsError, untrained_model

    file = weights_file(preset, path, arch)
    if arch not in preset.archs:
        log.warning("%s preset: %r is not one of the published architectures %s; loading %s into it anyway",
                    preset.name, arch, list(preset.archs), file)
    sd = read_state_dict(file)
    model = untrained_model(arch, device, quick_gelu=preset.uses_quick_gelu(arch))
    try:
        result = model.load_state_dict(sd, strict=preset.strict)
    except RuntimeError as e:  # strict mismatch, or a shape mismatch in either mode
        raise ClipWeightsError(
            f"--model.text_pretrained {preset.name}: {file} does not fit open_clip {arch!r}: "
            f"{' '.join(str(e).split())[:600]}. Check --model.text_model (the preset publishes {list(preset.archs)})."
        ) from e
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    if missing or unexpected:
        log.warning("%s preset: non-strict load of %s into %s%s: %d missing key(s) %s, %d unexpected key(s) %s",
                    preset.name, file, arch, " (QuickGELU)" if preset.uses_quick_gelu(arch) else "", len(missing),
                    missing[:10], len(unexpected), unexpected[:10])
    text_missing = [k for k in missing if not k.startswith("visual.")]
    if text_missing:
        raise ClipWeightsError(
            f"--model.text_pretrained {preset.name}: {file} lacks {len(text_missing)} text-tower weight(s) of {arch} "
            f"(e.g. {text_missing[:5]}): the class embeddings would be partly random. Check --model.text_model."
        )
    return model.to(device)
