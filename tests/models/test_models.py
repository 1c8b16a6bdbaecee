"""Tests of the patch encoders, fusions, MMLGNet and heads."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from mmlgnet.models.mmlgnet import ENCODERS, FUSIONS, HEADS, CNN3dEncoder, LinearHead, MMLGNet, TextHead

B, P, C_HSI, C_LIDAR = 4, 5, 12, 2
SMALL = {"hsi_widths": (8, 16), "lidar_widths": (4, 8), "fusion_dim": 16, "embed_dim": 12}
MODALITY_SETS = [("hsi", "lidar"), ("hsi",), ("lidar",)]


def _inputs(b: int = B) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"hsi": torch.randn(b, C_HSI, P, P, generator=g), "lidar": torch.randn(b, C_LIDAR, P, P, generator=g)}


@pytest.mark.parametrize("name", list(ENCODERS))
@pytest.mark.parametrize("in_channels", [1, 2, 13])
def test_encoder_shapes(name: str, in_channels: int) -> None:
    enc = ENCODERS[name](in_channels=in_channels, widths=(8, 16))
    out = enc(torch.randn(3, in_channels, 7, 7))
    assert enc.out_dim == 16
    assert out.shape == (3, 16)


def test_cnn3d_one_band_lidar() -> None:
    enc = CNN3dEncoder(in_channels=1, widths=(8,))
    x = torch.randn(2, 1, 5, 5, requires_grad=True)
    enc(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", list(FUSIONS))
@pytest.mark.parametrize("in_dims", [(6,), (6, 10)])
def test_fusion_shapes(name: str, in_dims: tuple[int, ...]) -> None:
    fusion = FUSIONS[name](in_dims=in_dims, out_dim=7)
    out = fusion([torch.randn(3, d) for d in in_dims])
    assert fusion.out_dim == 7
    assert out.shape == (3, 7)


@pytest.mark.parametrize("name", list(FUSIONS))
def test_fusion_rejects_bad_inputs(name: str) -> None:
    with pytest.raises(ValueError):
        FUSIONS[name](in_dims=(), out_dim=4)
    with pytest.raises(ValueError):
        FUSIONS[name](in_dims=(2, 3, 4), out_dim=4)
    with pytest.raises(ValueError):
        FUSIONS[name](in_dims=(2, 3), out_dim=4)([torch.randn(1, 2)])


@pytest.mark.parametrize(
    "hsi_encoder,lidar_encoder,fusion,modalities",
    list(itertools.product(ENCODERS, ENCODERS, FUSIONS, MODALITY_SETS)),
)
def test_mmlgnet_combinations(hsi_encoder: str, lidar_encoder: str, fusion: str, modalities: tuple) -> None:
    torch.manual_seed(0)
    model = MMLGNet(
        C_HSI, C_LIDAR, modalities=modalities, hsi_encoder=hsi_encoder, lidar_encoder=lidar_encoder,
        fusion=fusion, **SMALL,
    )
    assert set(model.encoders) == set(modalities)
    x = _inputs()
    out = model(**x)
    assert out.shape == (B, SMALL["embed_dim"])
    out.square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"no gradient for {name}"
        assert torch.isfinite(p.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())

    model.eval()
    with torch.no_grad():
        assert torch.equal(model(**x), model(**x))
        # eval output of a pixel does not depend on the rest of the batch (BN uses running stats)
        single = model(**{k: v[:1] for k, v in x.items()})
        torch.testing.assert_close(single, model(**x)[:1], rtol=1e-4, atol=1e-5)


def test_mmlgnet_ignores_unused_and_requires_used_input() -> None:
    model = MMLGNet(C_HSI, C_LIDAR, modalities=("lidar",), **SMALL).eval()
    x = _inputs()
    with torch.no_grad():
        assert torch.equal(model(hsi=x["hsi"], lidar=x["lidar"]), model(hsi=None, lidar=x["lidar"]))
    with pytest.raises(ValueError, match="lidar"):
        model(hsi=x["hsi"], lidar=None)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"modalities": ()}, "modalities"),
        ({"modalities": ("hsi", "hsi")}, "duplicates"),
        ({"modalities": ("rgb",)}, "modalities='rgb'.*hsi.*lidar"),
        ({"hsi_encoder": "vit"}, "hsi_encoder='vit'.*cnn2d"),
        ({"lidar_encoder": "mlp"}, "lidar_encoder='mlp'.*cnn3d"),
        ({"fusion": "attention"}, "fusion='attention'.*concat"),
    ],
)
def test_mmlgnet_bad_options(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MMLGNet(C_HSI, C_LIDAR, **kwargs)


def test_text_head_logits_are_scaled_cosine() -> None:
    t = torch.randn(5, 12)
    head = TextHead(t, logit_scale_init=10.0)
    v = torch.randn(3, 12)
    expected = 10.0 * F.cosine_similarity(v[:, None, :], t[None, :, :], dim=-1)  # (3, 5)
    torch.testing.assert_close(head(v), expected, rtol=1e-5, atol=1e-5)
    assert math.isclose(head.scale.item(), 10.0, rel_tol=1e-6)
    sd = head.state_dict()
    assert "class_embeddings" in sd and "logit_scale" in sd
    torch.testing.assert_close(sd["class_embeddings"], F.normalize(t, dim=-1))
    assert not head.class_embeddings.requires_grad


def test_text_head_default_scale_and_clamp() -> None:
    head = TextHead(torch.randn(3, 4))
    assert math.isclose(head.scale.item(), 1 / 0.07, rel_tol=1e-5)
    with torch.no_grad():
        head.logit_scale.fill_(math.log(1000.0))
    assert math.isclose(head.scale.item(), 100.0, rel_tol=1e-5)  # clamped in forward
    head.clamp_()
    assert math.isclose(head.logit_scale.item(), math.log(100.0), rel_tol=1e-6)
    with torch.no_grad():
        head.logit_scale.fill_(-1.0)
    head.clamp_()
    assert head.logit_scale.item() == 0.0
    head(torch.randn(2, 4)).sum().backward()
    assert head.logit_scale.grad is not None and head.logit_scale.grad != 0


def test_text_head_rejects_bad_embeddings() -> None:
    with pytest.raises(ValueError):
        TextHead(torch.randn(4))


def test_linear_head_and_registry() -> None:
    head = LinearHead(embed_dim=12, num_classes=6)
    assert head(torch.randn(3, 12)).shape == (3, 6)
    assert HEADS == {"text": TextHead, "linear": LinearHead}
