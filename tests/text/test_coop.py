"""CoOp learnable prompts (mmlgnet.text.coop) with the randomly initialised mmlgnet-tiny open_clip tower."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import open_clip
import pytest
import torch
import torch.nn.functional as F

from mmlgnet.cli import main
from mmlgnet.errors import CheckpointError, ConfigError
from mmlgnet.text import coop, openclip_encoder
from mmlgnet.training.module import MMLGNetModule

REPO = Path(__file__).resolve().parents[2]
NAMES = ["Apple trees", "Buildings", "Ground"]
TINY = "mmlgnet-tiny"
BASE = ["--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs" / "overlays" / "debug.yaml"),
        "--data.synthetic_height", "24", "--data.synthetic_width", "40", "--data.synthetic_classes", "4",
        "--data.split", "per_class:10", "--data.eval_batch_size", "128",
        "--model.prompt_learning", "coop", "--model.prompt_context", "4"]
pytestmark = pytest.mark.filterwarnings("ignore:text_pretrained=None")


@pytest.fixture(scope="module")
def clip() -> torch.nn.Module:
    """The full tiny open_clip model the CoOp tower is cut from (same seed: same weights)."""
    return openclip_encoder.create_model(TINY, None, "cpu", Path("unused")).eval()


def _word_embeddings(clip: torch.nn.Module, words: str) -> torch.Tensor:
    ids = open_clip.get_tokenizer(TINY)([words])[0]
    n = int((ids > 0).sum()) - 2  # without start and end-of-text
    return clip.token_embedding(ids[1:1 + n]).detach()  # (n, W)


def test_context_of_real_words_equals_encode_text(clip):
    """The forward pass is CLIP.encode_text with the placeholder words' embeddings swapped for the context."""
    prompts = coop.CoopPrompts(NAMES, TINY, None, n_ctx=4)
    prompts.attach()
    with torch.no_grad():
        prompts.context.copy_(_word_embeddings(clip, "a photo of a"))  # shared context (4, W)
        ref = F.normalize(clip.encode_text(open_clip.get_tokenizer(TINY)(
            [f"a photo of a {n.lower()}." for n in NAMES])), dim=-1)  # (K, D)
        torch.testing.assert_close(prompts(), ref, atol=1e-5, rtol=0)
        assert prompts.encoder.tokens.shape == (3, 1 + 4 + 3 + 1)  # cropped after the longest prompt's EOT
        full = coop.CoopEncoder(clip, TINY, NAMES, 4, crop=False)  # the whole 77-token sequence: the same
        assert full.tokens.shape == (3, 77)
        torch.testing.assert_close(full(prompts.context), ref, atol=1e-5, rtol=0)
        # class-specific: each class its own four words
        words = ["a photo of a", "an aerial view of", "a map showing some"]
        specific = coop.CoopPrompts(NAMES, TINY, None, n_ctx=4, class_specific=True)
        specific.attach()
        specific.context.copy_(torch.stack([_word_embeddings(clip, w) for w in words]))  # (K, 4, W)
        ref = F.normalize(clip.encode_text(open_clip.get_tokenizer(TINY)(
            [f"{w} {n.lower()}." for w, n in zip(words, NAMES, strict=True)])), dim=-1)
        torch.testing.assert_close(specific(), ref, atol=1e-5, rtol=0)
        assert not torch.allclose(specific(), prompts(), atol=1e-3)  # the per-class contexts do count


def test_context_initialised_from_words(clip):
    """prompt_context_init: the first prompts are exactly '<words> <class name>.'; a loaded context is kept."""
    ref = F.normalize(clip.encode_text(open_clip.get_tokenizer(TINY)([f"a photo of a {n.lower()}." for n in NAMES])),
                      dim=-1).detach()
    for specific in (False, True):
        prompts = coop.CoopPrompts(NAMES, TINY, None, n_ctx=4, class_specific=specific, context_init="a photo of a")
        prompts.attach()
        with torch.no_grad():
            torch.testing.assert_close(prompts(), ref, atol=1e-5, rtol=0)
    loaded = coop.CoopPrompts(NAMES, TINY, None, n_ctx=4, context_init="a photo of a")
    saved = torch.randn_like(loaded.context)
    loaded.load_state_dict({"context": saved})  # e.g. a resumed fit: restored before the tower is attached
    loaded.attach()
    assert torch.equal(loaded.context.detach(), saved)
    with pytest.raises(ConfigError, match="is 4 tokens .* --model.prompt_context is 8"):
        coop.CoopPrompts(NAMES, TINY, None, n_ctx=8, context_init="a photo of a")


def test_shapes_and_what_is_saved():
    width = open_clip.get_model_config(TINY)["text_cfg"]["width"]
    shared = coop.CoopPrompts(NAMES, TINY, None, n_ctx=5)
    specific = coop.CoopPrompts(NAMES, TINY, None, n_ctx=5, class_specific=True)
    assert shared.context.shape == (5, width) and specific.context.shape == (3, 5, width)
    assert 0.01 < float(shared.context.detach().std()) < 0.03  # N(0, 0.02²)
    for p in (shared, specific):
        p.attach()
        assert p().shape == (3, 64) and torch.allclose(p().norm(dim=-1), torch.ones(3))
        assert list(p.state_dict()) == ["context"]  # the tower is never saved (nor optimised, nor in DDP)
        assert [n for n, _ in p.named_parameters()] == ["context"]
        p.train()
        assert p.encoder is not None and not p.encoder.tower.training  # frozen tower stays in eval mode
        p.release()
        assert p.encoder is None
        with pytest.raises(RuntimeError, match="attach"):
            p()


def test_gradient_reaches_the_context_only():
    module = MMLGNetModule(num_classes=3, class_names=NAMES, hsi_channels=4, lidar_channels=1, hsi_widths=(8,),
                           lidar_widths=(8,), fusion_dim=16, text_model=TINY, text_pretrained=None,
                           prompt_learning="coop", prompt_context=4)
    enc = module.coop.attach()
    module.train()
    batch = {"hsi": torch.randn(6, 4, 5, 5), "lidar": torch.randn(6, 1, 5, 5)}
    logits = module(batch)
    module.criterion(logits, torch.tensor([0, 1, 2, 0, 1, 2]))["loss"].backward()
    assert module.coop.context.grad is not None and module.coop.context.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in enc.tower.parameters())
    assert all(p.grad is not None for p in module.net.parameters() if p.requires_grad)
    module.eval()  # outside training the buffer is used: zeros until fitting writes the learned embeddings
    assert torch.all(module(batch) == 0)


def test_options_that_cannot_work_are_config_errors():
    kwargs = dict(num_classes=3, class_names=NAMES, text_model=TINY, text_pretrained=None, prompt_learning="coop")
    for bad, match in [({"text_encoder": "sentence_transformers"}, "text_encoder 'sentence_transformers' is not "
                        "supported"), ({"head": "linear"}, "head text"), ({"prompt_context": 0}, "prompt_context"),
                       ({"text_model": "hf-hub:org/model"}, "not a registered"), ({"prompt_learning": "cocoop"}, "one of"),
                       ({"prompts": "descriptions"}, "prompt_learning coop"), ({"prompt_templates": ["a {}."]}, "ignored"),
                       ({"prompt_context_class_specific": True, "unseen_classes": ["Ground"]}, "never receives"),
                       ({"text_pretrained": "remoteclip"}, "preset publishes")]:
        with pytest.raises(ConfigError, match=match):
            MMLGNetModule(**{**kwargs, **bad})
    long_name = coop.CoopPrompts(["a " * 60 + "tree"], TINY, None, n_ctx=16)
    with pytest.raises(ConfigError, match="context length"):
        long_name.attach()


def test_checkpoint_switch_is_refused():
    emb = F.normalize(torch.randn(3, 64), dim=-1)
    ckpt = {"hyper_parameters": {"prompt_learning": "coop", "prompt_context": 4}, "state_dict": {coop._BUFFER: emb}}
    coop.check_checkpoint(ckpt, {"prompt_learning": "coop", "prompt_context": 4}, "x.ckpt")  # consistent: fine
    with pytest.raises(CheckpointError, match="prompt_learning: checkpoint 'coop' vs model 'none'"):
        coop.check_checkpoint(ckpt, {"prompt_learning": "none"}, "x.ckpt")
    with pytest.raises(CheckpointError, match="prompt_learning: checkpoint 'none' vs model 'coop'"):
        coop.check_checkpoint({"hyper_parameters": {}, "state_dict": {coop._BUFFER: emb}},
                              {"prompt_learning": "coop", "prompt_context": 4}, "x.ckpt")
    with pytest.raises(CheckpointError, match="prompt_context: checkpoint 4 vs model 8"):
        coop.check_checkpoint(ckpt, {"prompt_learning": "coop", "prompt_context": 8}, "x.ckpt")
    ckpt["state_dict"][coop._BUFFER] = torch.zeros(3, 64)  # never written from the context
    with pytest.raises(CheckpointError, match="without learned class embeddings"):
        coop.check_checkpoint(ckpt, {"prompt_learning": "coop", "prompt_context": 4}, "x.ckpt")


_NO_TOWER = """
import sys, open_clip
def refuse(*a, **k):
    raise AssertionError("a text tower was built")
open_clip.create_model = open_clip.create_model_and_transforms = refuse
from mmlgnet.cli import main
args = sys.argv[1:]
main(["test", *args])
main(["predict", *args, "--predict_writer.output_dir", args[args.index("--trainer.default_root_dir") + 1] + "/maps"])
"""


@pytest.mark.slow  # fit, resume and a fresh-process test/predict: `make test-all` only
def test_fit_trains_the_context_and_the_checkpoint_needs_no_tower(tmp_path, monkeypatch):
    seen = []
    attach = coop.CoopPrompts.attach

    def spy(self, device="cpu"):
        enc = attach(self, device)
        seen.append((enc, self.context.detach().clone(), {k: v.clone() for k, v in enc.tower.state_dict().items()}))
        return enc

    monkeypatch.setattr(coop.CoopPrompts, "attach", spy)
    runs = tmp_path / "runs"
    cli = main(["fit", *BASE, "--trainer.logger.init_args.save_dir", str(runs), "--test_after_fit", "true"])
    ((enc, context0, tower0),) = seen  # the tower was built once, at fit start
    module = cli.model
    assert module.coop.encoder is None  # released after the fit
    for k, v in enc.tower.state_dict().items():
        assert torch.equal(v, tower0[k]), k  # frozen: no weight of the tower changed
    assert not torch.allclose(module.coop.context, context0)  # the context trained
    with torch.no_grad():
        learned, initial = enc(module.coop.context), enc(context0)
    torch.testing.assert_close(module.head.class_embeddings, learned)  # the buffer holds the final embeddings
    assert (learned - initial).abs().max() > 1e-4  # and they moved during training
    ckpt = next(runs.rglob("last.ckpt"))
    stored = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    torch.testing.assert_close(stored[coop._BUFFER], learned)
    assert not any("tower" in k or "token_embedding" in k for k in stored)
    fit_rec = json.loads(next(runs.rglob("test_metrics.json")).read_text())
    assert fit_rec["variant"]["prompt_learning"] == "coop"

    # a fresh process where building any open_clip model fails: test and predict use the stored embeddings
    out = tmp_path / "fresh"
    done = subprocess.run([sys.executable, "-c", _NO_TOWER, *BASE, "--ckpt_path", str(ckpt),
                           "--trainer.logger", "false", "--trainer.default_root_dir", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=900,
                          env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"})
    assert done.returncode == 0, done.stderr[-3000:]
    rec = json.loads((out / "test_metrics.json").read_text())
    assert rec["confusion_matrix"] == fit_rec["confusion_matrix"] and rec["OA"] == fit_rec["OA"]
    assert json.loads((out / "maps" / "maps.json").read_text())["OA"] > 0

    # resuming the fit continues from the checkpoint's context (restored before the tower is attached)
    main(["fit", *BASE, "--trainer.logger.init_args.save_dir", str(tmp_path / "resumed"), "--trainer.max_epochs", "2",
          "--ckpt_path", str(ckpt)])
    assert len(seen) == 2 and torch.equal(seen[1][1], stored["coop.context"])
    assert not torch.equal(seen[1][1], context0)
