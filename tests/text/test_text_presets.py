"""Remote-sensing CLIP presets: checkpoints written in each preset's file format from a randomly initialised
(tiny) open_clip model load through the preset by its authors' recipe (activation, strictness); the recipe
table matches the upstream repositories; offline without a file fails fast with `hf download` instructions."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import open_clip
import pytest
import torch
import torch.nn.functional as F

from mmlgnet.errors import ConfigError
from mmlgnet.text import presets
from mmlgnet.text.embeddings import class_text_embeddings
from mmlgnet.text.openclip_encoder import ClipWeightsError
from mmlgnet.text.weights_id import weights_identity

TINY = "mmlgnet-tiny"
NAMES = ["Trees", "Road"]
TEMPLATES = ("a {}.",)


def _model(quick_gelu: bool = False, seed: int = 5) -> torch.nn.Module:
    torch.manual_seed(seed)  # another init than the preset's seeded skeleton: loading must change the weights
    return open_clip.create_model(TINY, pretrained=None, force_quick_gelu=quick_gelu).eval()


@torch.no_grad()
def _expected(model: torch.nn.Module) -> torch.Tensor:
    tokens = open_clip.get_tokenizer(TINY)([TEMPLATES[0].format(n.lower()) for n in NAMES])
    return F.normalize(model.encode_text(tokens).float(), dim=-1)  # (K, D): one template per class


def _embed(pretrained: str, cache: Path) -> torch.Tensor:
    return class_text_embeddings(NAMES, TEMPLATES, TINY, pretrained, cache)


def test_remoteclip_plain_state_dict_loads_strictly(tmp_path: Path) -> None:
    model = _model()
    path = tmp_path / "RemoteCLIP-mmlgnet-tiny.pt"
    torch.save(model.state_dict(), path)  # RemoteCLIP's format: a plain open_clip state dict
    emb = _embed(f"remoteclip:{path}", tmp_path / "cache")
    torch.testing.assert_close(emb, _expected(model), rtol=1e-5, atol=1e-5)
    sd = model.state_dict()
    sd.pop("text_projection")
    torch.save(sd, tmp_path / "partial.pt")
    with pytest.raises(ClipWeightsError, match="text_projection"):  # strict: a missing key is an error
        _embed(f"remoteclip:{tmp_path / 'partial.pt'}", tmp_path / "cache")


def publish_tiny(monkeypatch: pytest.MonkeyPatch, name: str, activation: presets.Activation) -> None:
    """Let preset `name` publish the tiny architecture with `activation` (as it publishes ViT-B-32 & co)."""
    preset = presets.PRESETS[name]
    monkeypatch.setitem(presets.PRESETS, name, dataclasses.replace(
        preset, activations=(*preset.activations, (TINY, activation))))


def _activation(model: Any) -> type:
    return type(model.transformer.resblocks[0].mlp.gelu)  # the text tower's activation module


def test_georsclip_loads_non_strictly_by_its_recipe_and_logs_what_did_not_load(
        tmp_path: Path, caplog, monkeypatch: pytest.MonkeyPatch) -> None:
    publish_tiny(monkeypatch, "georsclip", "quick_gelu")  # as RS5M's ViT-B-32: built from the OpenAI model
    model = _model(quick_gelu=True)
    sd = {k: v for k, v in model.state_dict().items() if not k.startswith("visual.")}  # no image tower
    sd["extra.unused"] = torch.zeros(1)
    path = tmp_path / "RS5M_mmlgnet-tiny.pt"
    torch.save(sd, path)
    caplog.set_level(logging.WARNING, logger="mmlgnet.text.presets")
    emb = _embed(f"georsclip:{path}", tmp_path / "cache")
    torch.testing.assert_close(emb, _expected(model), rtol=1e-5, atol=1e-5)  # QuickGELU, as trained
    gelu = _model(quick_gelu=False)
    gelu.load_state_dict(model.state_dict())
    assert not torch.allclose(_expected(gelu), emb, atol=1e-4)  # the activation matters: QuickGELU was used
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "missing key" in logged and "visual." in logged and "extra.unused" in logged and "QuickGELU" in logged
    sd.pop("token_embedding.weight")
    torch.save(sd, tmp_path / "no_text.pt")
    with pytest.raises(ClipWeightsError, match="text-tower"):  # a missing TEXT key is refused
        _embed(f"georsclip:{tmp_path / 'no_text.pt'}", tmp_path / "cache2")


#: The recipes read in the upstream repositories (see mmlgnet.text.presets): (preset, arch) -> activation.
UPSTREAM = {
    ("georsclip", "ViT-B-32"): "quick_gelu",  # RS5M inference.py: "ViT-B/32", pretrained="openai"
    ("georsclip", "ViT-H-14"): "gelu",  # RS5M inference.py: "ViT-H/14", pretrained="laion2b_s32b_b79k"
    ("remoteclip", "ViT-B-32"): "quick_gelu",  # RemoteCLIP retrieval.py: pretrained='openai'
    ("remoteclip", "ViT-L-14"): "quick_gelu",
    ("remoteclip", "RN50"): "quick_gelu",
    ("skyclip", "ViT-B-32"): "gelu",  # SkyScript notebooks: --force-quick-gelu only for ViT-L-14
    ("skyclip", "ViT-L-14"): "quick_gelu",
}


@pytest.mark.parametrize("name,arch", list(UPSTREAM))
def test_each_published_architecture_has_the_upstream_recipe(name: str, arch: str) -> None:
    preset = presets.PRESETS[name]
    recipe = presets.recipe(preset, arch)
    assert recipe.activation == UPSTREAM[name, arch]
    assert recipe.create_kwargs() == {"force_quick_gelu": UPSTREAM[name, arch] == "quick_gelu"}
    assert recipe.strict is (name != "georsclip")  # RS5M loads with strict=False, the others strictly
    assert recipe.key() == {"arch": arch, "activation": UPSTREAM[name, arch], "strict": recipe.strict}
    assert {"remoteclip": "RemoteCLIP", "georsclip": "RS5M", "skyclip": "SkyScript"}[name] in recipe.source
    assert not (open_clip.get_model_config(arch) or {}).get("quick_gelu")  # so force_quick_gelu=False is GELU
    assert sorted(preset.archs) == sorted(a for n, a in UPSTREAM if n == name)


@pytest.mark.parametrize("activation,module", [("gelu", torch.nn.GELU), ("quick_gelu", open_clip.transformer.QuickGELU)])
def test_the_model_is_built_with_the_recipe_activation(activation: presets.Activation, module: type, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    publish_tiny(monkeypatch, "georsclip", activation)
    model = _model(quick_gelu=activation == "quick_gelu")
    torch.save(model.state_dict(), tmp_path / "w.pt")
    loaded = presets.load(presets.PRESETS["georsclip"], str(tmp_path / "w.pt"), TINY)
    assert _activation(loaded) is module
    torch.testing.assert_close(_expected(loaded.eval()), _expected(model), rtol=1e-5, atol=1e-5)


def test_an_unpublished_architecture_gets_its_own_config_activation(tmp_path: Path, caplog) -> None:
    recipe = presets.recipe(presets.PRESETS["remoteclip"], TINY)
    assert recipe.activation == "gelu" and "no published remoteclip recipe" in recipe.source
    assert presets.recipe(presets.PRESETS["georsclip"], "ViT-B-32-quickgelu").activation == "quick_gelu"
    torch.save(_model().state_dict(), tmp_path / "w.pt")
    caplog.set_level(logging.WARNING, logger="mmlgnet.text.presets")
    assert _activation(presets.load(presets.PRESETS["remoteclip"], str(tmp_path / "w.pt"), TINY)) is torch.nn.GELU
    assert "not one of the published architectures" in caplog.text and "GELU" in caplog.text


def test_skyclip_training_checkpoint_with_module_prefix(tmp_path: Path) -> None:
    model = _model()
    ckpt = {"epoch": 20, "name": "SkyCLIP", "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}
    path = tmp_path / "epoch_20.pt"
    torch.save(ckpt, path)  # open_clip's training checkpoint, as SkyScript publishes (DDP-prefixed keys)
    torch.testing.assert_close(_embed(f"skyclip:{path}", tmp_path / "cache"), _expected(model), rtol=1e-5, atol=1e-5)


def test_not_a_state_dict(tmp_path: Path) -> None:
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ClipWeightsError, match="not a readable PyTorch checkpoint"):
        _embed(f"remoteclip:{tmp_path / 'junk.pt'}", tmp_path / "cache")
    torch.save({"a": 1}, tmp_path / "dict.pt")
    with pytest.raises(ClipWeightsError, match="expected a CLIP state dict"):
        _embed(f"remoteclip:{tmp_path / 'dict.pt'}", tmp_path / "cache")


@pytest.fixture
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.mark.parametrize("preset,needle", [
    ("remoteclip", "`hf download chendelong/RemoteCLIP RemoteCLIP-ViT-B-32.pt`"),
    ("georsclip", "`hf download Zilun/GeoRSCLIP ckpt/RS5M_ViT-B-32.pt`"),
    ("skyclip", "SkyCLIP_ViT_B32_top50pct.zip"),
])
def test_offline_without_a_file_fails_fast_with_instructions(preset, needle, tmp_path: Path, empty_hf_cache) -> None:
    start = time.monotonic()
    with pytest.raises(ClipWeightsError) as info:
        class_text_embeddings(NAMES, model_name="ViT-B-32", pretrained=preset, cache_dir=tmp_path)
    assert time.monotonic() - start < 10
    msg = str(info.value)
    assert needle in msg and f"--model.text_pretrained {preset}:/path/to/" in msg
    assert "huggingface-cli" not in msg  # huggingface_hub 2.x ships only `hf`


def test_hub_preset_downloads_into_the_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Online: the file comes from huggingface_hub (here a stand-in that 'downloads' a tiny checkpoint)."""
    import huggingface_hub

    model = _model()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    calls = []

    def fake_download(repo_id, filename, local_files_only=False, **kw):
        calls.append((repo_id, filename, local_files_only))
        if local_files_only:
            raise FileNotFoundError("not cached")
        return str(tmp_path / "weights.pt")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    preset = presets.PRESETS["remoteclip"]
    loaded = presets.load(preset, None, TINY)
    assert calls == [("chendelong/RemoteCLIP", "RemoteCLIP-mmlgnet-tiny.pt", True),
                     ("chendelong/RemoteCLIP", "RemoteCLIP-mmlgnet-tiny.pt", False)]
    torch.testing.assert_close(_expected(loaded.eval()), _expected(model), rtol=1e-5, atol=1e-5)


def test_preset_architecture_and_cache_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="publishes"):
        class_text_embeddings(NAMES, model_name="ViT-B-16", pretrained="remoteclip", cache_dir=tmp_path)
    path = tmp_path / "w.pt"
    path.write_bytes(b"x")
    first = weights_identity(f"georsclip:{path}", "ViT-B-32")
    path.write_bytes(b"xy")
    assert weights_identity(f"georsclip:{path}", "ViT-B-32") != first  # the file's content changes the cache key
    assert presets.parse("openai") is None and presets.parse(None) is None
