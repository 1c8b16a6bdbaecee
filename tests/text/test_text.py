"""Tests of the cached CLIP class text embeddings (tiny open_clip config, offline)."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import logging  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import open_clip  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mmlgnet.text.embeddings import (  # noqa: E402
    DEFAULT_TEMPLATES,
    ClipWeightsError,
    build_prompts,
    cache_path,
    class_text_embeddings,
    default_cache_dir,
)

NAMES = ["Apple trees", "Buildings", "Ground"]
TINY = "mmlgnet-tiny"


@pytest.fixture
def untrained(tmp_path: Path):
    """class_text_embeddings for the tiny model, untrained, caching under tmp_path (warning silenced)."""

    def call(**kwargs):
        kwargs = {"model_name": TINY, "pretrained": None, "cache_dir": tmp_path, **kwargs}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return class_text_embeddings(NAMES, **kwargs)

    return call


@pytest.fixture
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the Hugging Face cache at an empty folder so a user's real cache cannot satisfy a tag."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_tiny_config_is_registered_and_tokenizer_offline() -> None:
    assert TINY in open_clip.list_models()
    tok = open_clip.get_tokenizer(TINY)
    assert isinstance(tok, open_clip.SimpleTokenizer)
    assert tok(["a photo of woods."]).shape == (1, 77)


def test_build_prompts() -> None:
    prompts = build_prompts(NAMES, ("a {}.", "an image of {}."))
    assert prompts == [
        ["a apple trees.", "an image of apple trees."],
        ["a buildings.", "an image of buildings."],
        ["a ground.", "an image of ground."],
    ]
    with pytest.raises(ValueError):
        build_prompts(NAMES, ("no placeholder",))
    with pytest.raises(ValueError):
        build_prompts([], DEFAULT_TEMPLATES)


def test_shape_norm_and_determinism(untrained, tmp_path: Path) -> None:
    emb = untrained()
    assert emb.shape == (len(NAMES), 64) and emb.dtype == torch.float32
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(len(NAMES)))
    assert not torch.allclose(emb[0], emb[1])
    # a fresh computation (other cache dir) gives the same untrained embeddings: fixed seed
    torch.manual_seed(123)
    again = untrained(cache_dir=tmp_path / "other")
    torch.testing.assert_close(emb, again, rtol=0, atol=0)


def test_untrained_leaves_global_rng_alone(untrained) -> None:
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    untrained()
    assert torch.equal(torch.rand(3), expected)


def test_cache_written_and_hit_without_building(untrained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    emb = untrained()
    path = cache_path(TINY, None, build_prompts(NAMES, DEFAULT_TEMPLATES), tmp_path)
    assert path.is_file()
    assert not list(tmp_path.glob("*.tmp"))
    saved = torch.load(path, weights_only=True)
    assert saved["prompts"] == build_prompts(NAMES, DEFAULT_TEMPLATES)

    def boom(*args, **kwargs):
        raise AssertionError("the model must not be built on a cache hit")

    monkeypatch.setattr(open_clip, "create_model", boom)
    torch.testing.assert_close(untrained(), emb, rtol=0, atol=0)
    with pytest.raises(AssertionError, match="cache hit"):
        untrained(templates=("a new template {}.",))  # other prompts: a miss, the model is built


def test_cache_key_depends_on_prompts_and_weights(tmp_path: Path) -> None:
    base = cache_path(TINY, None, build_prompts(NAMES), tmp_path)
    assert base == cache_path(TINY, None, build_prompts(NAMES), tmp_path)
    assert base != cache_path(TINY, None, build_prompts(NAMES, ("a {}.",)), tmp_path)
    assert base != cache_path(TINY, None, build_prompts(NAMES[:2]), tmp_path)
    assert base != cache_path(TINY, "openai", build_prompts(NAMES), tmp_path)
    assert base != cache_path("ViT-B-32", None, build_prompts(NAMES), tmp_path)
    ckpt = tmp_path / "ckpt.bin"
    ckpt.write_bytes(b"x")
    first = cache_path(TINY, str(ckpt), build_prompts(NAMES), tmp_path)
    ckpt.write_bytes(b"xy")
    assert first != cache_path(TINY, str(ckpt), build_prompts(NAMES), tmp_path)


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MMLGNET_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "text"
    monkeypatch.delenv("MMLGNET_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "mmlgnet" / "text"


def test_untrained_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """One warning: not warnings.warn + log.warning (+ open_clip's own "No pretrained weights loaded")."""
    caplog.set_level(logging.WARNING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        class_text_embeddings(NAMES, model_name=TINY, pretrained=None, cache_dir=tmp_path)
    assert len([w for w in caught if "UNTRAINED" in str(w.message)]) == 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_local_checkpoint_roundtrip(untrained, tmp_path: Path) -> None:
    model = open_clip.create_model(TINY, pretrained=None)
    ckpt = tmp_path / "tiny.bin"
    torch.save(model.state_dict(), ckpt)
    emb = class_text_embeddings(NAMES, model_name=TINY, pretrained=str(ckpt), cache_dir=tmp_path)
    assert emb.shape == (len(NAMES), 64)
    with torch.no_grad():
        tokens = open_clip.get_tokenizer(TINY)(build_prompts(NAMES)[0])
        first = torch.nn.functional.normalize(model.eval().encode_text(tokens), dim=-1).mean(0)
    torch.testing.assert_close(emb[0], torch.nn.functional.normalize(first, dim=-1), rtol=1e-5, atol=1e-5)


def _assert_guidance(err: ClipWeightsError) -> None:
    msg = str(err)
    assert "--model.text_pretrained /path/to/open_clip_pytorch_model.bin" in msg
    assert "huggingface" in msg
    assert "--model.text_pretrained null" in msg
    assert ".pt" in msg  # the text cache file's path


def test_missing_checkpoint_file_fails_fast(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(ClipWeightsError) as info:
        class_text_embeddings(NAMES, model_name=TINY, pretrained=str(tmp_path / "missing.bin"), cache_dir=tmp_path)
    assert time.monotonic() - start < 10
    _assert_guidance(info.value)


def test_unavailable_tag_offline_fails_fast(tmp_path: Path, empty_hf_cache: None) -> None:
    start = time.monotonic()
    with pytest.raises(ClipWeightsError) as info:
        class_text_embeddings(NAMES, model_name="ViT-B-32", pretrained="openai", cache_dir=tmp_path)
    assert time.monotonic() - start < 10
    _assert_guidance(info.value)
    assert "offline" in str(info.value)


def test_unknown_tag(tmp_path: Path, empty_hf_cache: None) -> None:
    with pytest.raises(ClipWeightsError, match="laion2b_s34b_b79k"):
        class_text_embeddings(NAMES, model_name="ViT-B-32", pretrained="no_such_tag", cache_dir=tmp_path)


def test_unknown_model_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ViT-B-32"):
        class_text_embeddings(NAMES, model_name="ViT-Q-99", pretrained=None, cache_dir=tmp_path)


def test_corrupt_cache_is_recomputed(untrained, tmp_path: Path) -> None:
    emb = untrained()
    path = cache_path(TINY, None, build_prompts(NAMES, DEFAULT_TEMPLATES), tmp_path)
    path.write_bytes(b"garbage")
    torch.testing.assert_close(untrained(), emb, rtol=0, atol=0)
    assert torch.load(path, weights_only=True)["prompts"] == build_prompts(NAMES, DEFAULT_TEMPLATES)


def test_open_clip_random_init_line_has_one_owner(caplog: pytest.LogCaptureFixture) -> None:
    """open_clip's "No pretrained weights loaded" is dropped where the untrained tower is built, only while it is
    (mmlgnet.text.openclip_model); the console no longer keeps a second, permanent root filter for it."""
    from mmlgnet import console
    from mmlgnet.text.openclip_model import RANDOM_INIT_LINE, untrained_model

    root = logging.getLogger()
    before = list(root.filters)
    console.quiet_noise()
    assert root.filters == before  # was: a _DropPrefixes(("No pretrained weights loaded for model",)) filter
    caplog.set_level(logging.WARNING)
    untrained_model(TINY)
    assert root.filters == before and not [r for r in caplog.records if RANDOM_INIT_LINE in r.getMessage()]
    logging.warning(f"{RANDOM_INIT_LINE} for model 'x'. Model initialized randomly.")  # outside: not ours to drop
    assert [r for r in caplog.records if RANDOM_INIT_LINE in r.getMessage()]
