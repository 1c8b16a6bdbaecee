"""What every baseline network owes the network contract, in one table: its reference parameter count per scene
(classifier included), forward shapes at reference widths, the feature width `out_dim`, input-shape errors naming
the class, a short training run that learns, and gradients reaching every parameter. Each method's own test file
keeps only what is specific to it (how its reference count was obtained and cross-checked, equivalences with the
reference, its own argument limits)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from torch import nn

from mmlgnet.models.baselines.endnet import EndNet
from mmlgnet.models.baselines.fusatnet import FusAtNet
from mmlgnet.models.baselines.mdl_middle import MDLMiddleFusion
from mmlgnet.models.baselines.mft import MFT
from mmlgnet.models.baselines.s2enet import S2ENet
from mmlgnet.models.baselines.two_branch import TwoBranchCNN

# scene: (HSI bands, LiDAR bands, classes K)
SCENES = {"trento": (63, 1, 6), "muufl": (64, 2, 11), "houston2013": (144, 1, 15)}

# ---- The references' parameter totals (trainable, K-way classifier included) and how each was obtained ----

# EndNet: the reference TF1 graph (danfenghong/IEEE_GRSL_EndNet EndNet.py @adbaf62, per pixel, classifier
# joint_encoder_h3/b3 and both decoders included), obtained by running reference_counts/count_endnet.py: it
# executes the reference's initialize_parameters() + mynetwork() under tf.compat.v1 (TensorFlow 2.21 + tf_keras)
# with 144 / 21 / 15 replaced by H / L / K (L = the scene's raw LiDAR bands, as fed here) and sums
# tf.compat.v1.trainable_variables() (BN γ, β; moving statistics excluded).
# Arithmetic cross-check, enc(i) = Σ over (i,16),(16,32),(32,64),(64,128) of a·b + b + 2b (Linear + BN):
#   joint = (256·128 + 128 + 256) + (128·64 + 64 + 128) = 41,536;  head = 64·K + K
#   dec(o) = (128·64 + 64) + (64·32 + 32) + (32·16 + 16) + (16·o + o)
# Trento:  enc(63) 12,480 + enc(1) 11,488 + 41,536 + dec(63) 11,935 + dec(1) 10,881 + 390 = 88,710
# MUUFL:   enc(64) 12,496 + enc(2) 11,504 + 41,536 + dec(64) 11,952 + dec(2) 10,898 + 715 = 89,101
# Houston: enc(144) 13,776 + enc(1) 11,488 + 41,536 + dec(144) 13,312 + dec(1) 10,881 + 975 = 91,968
# (Houston with the official 21 attribute-profile LiDAR features instead: 92,628.)
ENDNET_TOTALS = {"trento": 88_710, "muufl": 89_101, "houston2013": 91_968}

# FusAtNet: the reference Keras model (ShivamP1993/FusAtNet model.py @776fc9b, 11x11 input, classifier
# included), obtained by running reference_counts/count_fusatnet.py: it executes the reference's own
# hs/mask_spec/mask_spat/main2/att2/clf functions with Input (11, 11, H), (11, 11, L) and clf(..., K) under
# TensorFlow 2.21 / Keras 3.15 and sums `model.trainable_weights` (BN γ, β; moving statistics excluded).
# Arithmetic cross-check, unit(i, o) = 9·i·o + o (conv 3x3) + 2·o (BN):
#   hs    = unit(H,256) + 4·unit(256,256) + unit(256,1024)
#   spec  = unit(H,256) + unit(256,256) + 2·unit(512,256) + unit(256,256) + unit(256,1024)
#   spat  = unit(L,128) + unit(128,128) + unit(256,128) + unit(128,256) + unit(384,256) + unit(256,1024)
#   main2 = hs with H → C = H + L + 2048;  att2 = spat with L → C
#   clf   = unit(1024,256) + 3·unit(256,256) + unit(256,1024) + (1024·K + K)   [1x1 conv = the linear head]
# Trento:  4,870,656 + 6,050,304 + 3,988,224 + 9,591,552 + 6,420,096 + 6,494,208 + 6,150  = 37,421,190
# MUUFL:   4,872,960 + 6,052,608 + 3,989,376 + 9,596,160 + 6,422,400 + 6,494,208 + 11,275 = 37,438,987
# Houston: 5,057,280 + 6,236,928 + 3,988,224 + 9,778,176 + 6,513,408 + 6,494,208 + 15,375 = 38,083,599
FUSATNET_TOTALS = {"trento": 37_421_190, "muufl": 37_438_987, "houston2013": 38_083_599}

# MDL-RS middle fusion: the REFERENCE TF graph, counted by running its own initialize_parameters() + mynetwork()
# (danfenghong/IEEE_TGRS_MDL-RS MDL-RS_CNNs/Middle_fusion_CNNs.py @ cb0e1287c6011dfa127a9d2fb10991dbb47e9ac1)
# under tf.compat.v1 with the hard-coded 144 / 21 / 15 replaced by each scene's C1 / C2 / K, summing
# tf.trainable_variables() (reference_counts/count_mdl_middle.py; TF 2.21 + tf_keras in a scratch venv).
# Arithmetic (conv kernels + biases, BN γ + β; TF's moving statistics are not trainable):
#   branch(C) = (9·C·16 + 16) + 2·16 + (16·32 + 32) + 2·32 + (9·32·64 + 64) + 2·64 + (64·128 + 128) + 2·128
#             = 144·C + 27,856
#   joint     = (256·128 + 128) + 2·128 + (128·64 + 64) + 2·64 = 41,536;   classifier = 64·K + K
#   total     = 144·(C1 + C2) + 2·27,856 + 41,536 + 65·K = 144·(C1 + C2) + 97,248 + 65·K
#   trento 144·64 + 97,248 + 390 = 106,854; muufl 144·66 + 97,248 + 715 = 107,467;
#   houston2013 144·145 + 97,248 + 975 = 119,103 (with the reference's own 21-band attribute-profile
#   LiDAR: 121,983).
MDL_MIDDLE_PATCH = 7  # Middle_fusion_CNNs.py: tf.reshape(x1, [-1, 7, 7, 144])
MDL_MIDDLE_TOTALS = {"trento": 106_854, "muufl": 107_467, "houston2013": 119_103}

# MFT: the REFERENCE model, obtained by instantiating it: `MFT(16, C1, C2, K, False)` from the "MFT WITH CHANNEL
# TOKENIZATION" cell of AnkurDeria/MFT Model/MFT.ipynb @ de214e512ff1a8f6aefdf27fc2cb60c75e0f559a (the cell's
# classes executed as they are; einops.rearrange shimmed by a transpose), sum(p.numel() for p in parameters() if
# p.requires_grad) (reference_counts/count_mft.py). The notebook's own torchsummary output prints 263,526
# (Trento) and 313,071 (Houston): torchsummary misses the 8,832 parameters held directly by MFT
# (position_embeddings 320, token_wA 256, token_wV 4,096, token_wA_L 64, token_wV_L 4,096);
# 263,526 + 8,832 = 272,358 and 313,071 + 8,832 = 321,903. Arithmetic: test_mft.arithmetic_total.
MFT_PATCH = 11  # MFT.ipynb: patchsize = 11; paper Sec. IV ("patches of size 11 × 11")
MFT_TOTALS = {"trento": 272_358, "muufl": 258_219, "houston2013": 321_903}

# S²ENet: the REFERENCE model at its 7×7 patch, obtained by instantiating it: `S2ENet(C1, C2, K, 7)` from
# likyoo/Multimodal-Remote-Sensing-Toolkit model/S2ENet.py @ 2cfc4a2506526adcf6965e0e409be01f5b0523d7,
# sum(p.numel() for p in parameters() if p.requires_grad) (reference_counts/count_s2enet.py). Arithmetic check:
# 1152·C1 + 72·C2 + P² + 104,296 + 33·K + 3,312 (test_s2enet).
S2ENET_PATCH = 7  # MMRS model_utils.get_model: kwargs.setdefault("patch_size", 7) for S2ENet
S2ENET_TOTALS = {"trento": 180_503, "muufl": 181_892, "houston2013": 274_112}
# Of these, the reference's SAEM.g (528), SAEM.W_z (544 + 64), SEEM.g (1,056) and SEEM.W_z (1,056 + 64) are
# built but never called in forward: after a forward/backward pass they are the only parameters whose .grad is
# None (same script). Our network omits them (docstring, difference 1), so it matches the rest exactly.
S2ENET_UNUSED = 3_312

# Two-Branch CNN: the reference Keras fused network (BUCT-Vision/Two-branch-CNN-Multisource-RS-classification
# models.py @201644c, finetune_Net with all layers trainable, r = 5 → 11x11, Dense(K) classifier included),
# obtained by running reference_counts/count_two_branch.py: it executes the reference's models.py (Keras-2 names
# shimmed) under TensorFlow 2.21 / Keras 3.15 with hchn=H, lchn=L, NUM_CLASS=K and sums
# `model.trainable_weights` (BN γ, β; moving statistics excluded). Arithmetic cross-check (P = 11, ⌈P/2⌉ = 6):
#   spatial  = (9·H·256 + 256 + 2·256) + (256·512 + 512)
#   spectral = (11·64 + 64 + 2·64) + (3·64·128 + 128)                                           = 25,600
#   lidar    = (9·L·64 + 64) + block(64, 64) + block(64, 128), block(c, n) = (9·c·2n + 2n + 4n)
#              + (2n·n + n + 2n) + c·2n + (9·n·2n + 2n + 4n) + (9·2n·n + n + 2n)
#   fusion   = 2F + (128·F + 128), F = 512·36 + 128·⌊(H − 12)/2⌋ + 128·36;  head = 128·K + K
# Trento:  277,504 + 25,600 + 1,028,096 + 3,411,328 (F = 26,240) +   774 = 4,743,302
# MUUFL:   279,808 + 25,600 + 1,028,672 + 3,427,968 (F = 26,368) + 1,419 = 4,763,467
# Houston: 464,128 + 25,600 + 1,028,096 + 4,093,568 (F = 31,488) + 1,935 = 5,613,327
# (Frozen-branch variant under Keras 3, not used: 3,412,102 / 3,429,387 / 4,095,503.)
TWO_BRANCH_TOTALS = {"trento": 4_743_302, "muufl": 4_763_467, "houston2013": 5_613_327}


@dataclass(frozen=True)
class Method:
    """One baseline: its class, the reference's patch size and parameter totals, and a test-sized setting."""

    cls: type[Any]  # a baseline nn.Module class with `reference_out_dim`
    patch: int  # the reference implementation's patch size
    totals: dict[str, int]  # the reference's trainable parameters per scene, its K-way classifier included
    other_patches: tuple[int, ...]  # further patch sizes the forward runs at, at reference widths
    small: tuple[int, int, int]  # test-sized (hsi_bands, lidar_bands, patch_size)
    widths: dict[str, Any] = field(default_factory=dict)  # test-sized init_args (same structure)
    unused: int = 0  # parameters the reference builds but never calls (our network leaves them out)

    def reference(self, hsi: int, lidar: int, patch: int | None = None) -> nn.Module:
        out_dim = self.cls.reference_out_dim
        return self.cls(hsi_bands=hsi, lidar_bands=lidar, patch_size=patch or self.patch, out_dim=out_dim)

    def tiny(self, out_dim: int) -> nn.Module:
        hsi, lidar, patch = self.small
        return self.cls(hsi_bands=hsi, lidar_bands=lidar, patch_size=patch, out_dim=out_dim, **self.widths)


METHODS = {
    "endnet": Method(EndNet, EndNet.reference_patch_size, ENDNET_TOTALS, (11, 7), (16, 2, 3)),
    "fusatnet": Method(FusAtNet, FusAtNet.reference_patch_size, FUSATNET_TOTALS, (13,), (8, 2, 11),
                       {"channels": 8, "mask_channels": 4, "feature_channels": 16}),
    "mdl_middle": Method(MDLMiddleFusion, MDL_MIDDLE_PATCH, MDL_MIDDLE_TOTALS, (11,), (8, 2, 7)),
    "mft": Method(MFT, MFT_PATCH, MFT_TOTALS, (7,), (12, 2, 7)),
    "s2enet": Method(S2ENet, S2ENET_PATCH, S2ENET_TOTALS, (11,), (8, 2, 7), unused=S2ENET_UNUSED),
    "two_branch": Method(TwoBranchCNN, TwoBranchCNN.reference_patch_size, TWO_BRANCH_TOTALS, (7,), (16, 2, 7),
                         {"spatial_widths": (8, 16), "spectral_widths": (4, 8), "lidar_widths": (4, 8)}),
}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _check_forward(net: nn.Module, hsi: int, lidar: int, patch: int) -> None:
    """Eval forward of 2 pixels: finite (2, reference_out_dim); an auxiliary loss, if any, a positive scalar."""
    torch.manual_seed(0)
    net.eval()
    with torch.no_grad():
        out = net(torch.rand(2, hsi, patch, patch), torch.rand(2, lidar, patch, patch))  # (B, C, P, P) ×2
        assert out.shape == (2, net.reference_out_dim)
        assert torch.isfinite(out).all()
        aux = getattr(net, "auxiliary_loss", None)
        if aux is not None:
            assert aux().shape == () and aux().item() > 0


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("name", METHODS)
def test_reference_parameter_count_and_forward(name: str, scene: str) -> None:
    """Ours + the package's Linear(reference_out_dim, K) head == the reference's total (minus what it never
    uses); the same network's forward at the reference patch gives (B, reference_out_dim)."""
    m, (hsi, lidar, classes) = METHODS[name], SCENES[scene]
    torch.manual_seed(0)
    net = m.reference(hsi, lidar)
    out_dim = m.cls.reference_out_dim
    assert n_params(net) + n_params(nn.Linear(out_dim, classes)) == m.totals[scene] - m.unused
    _check_forward(net, hsi, lidar, m.patch)


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize(("name", "patch"), [(n, p) for n, m in METHODS.items() for p in m.other_patches])
def test_forward_shape_at_other_patch_sizes(name: str, patch: int, scene: str) -> None:
    hsi, lidar, _ = SCENES[scene]
    torch.manual_seed(0)
    _check_forward(METHODS[name].reference(hsi, lidar, patch), hsi, lidar, patch)


@pytest.mark.parametrize("name", METHODS)
def test_out_dim_sets_the_feature_width(name: str) -> None:
    hsi, lidar, patch = METHODS[name].small
    net = METHODS[name].tiny(out_dim=7)
    assert net(torch.rand(3, hsi, patch, patch), torch.rand(3, lidar, patch, patch)).shape == (3, 7)


@pytest.mark.parametrize("value", [0, -3, True, 2.0, "4"])
@pytest.mark.parametrize("name", METHODS)
def test_an_integer_argument_that_is_not_a_positive_int_is_refused_in_one_wording(name: str, value: object) -> None:
    """models.baselines.inputs.check_ints: the same rule and message for every baseline (a bool or a float is
    refused too, as errors.is_int rules)."""
    with pytest.raises(ValueError, match=rf"^{METHODS[name].cls.__name__}: out_dim={value!r}; expected a positive "
                                         "integer$"):
        METHODS[name].tiny(out_dim=value)  # type: ignore[arg-type]


# (what is wrong, hsi shape, lidar shape, the tensor named, the bands its expected shape names) for H, L, P:
WRONG = {
    "hsi bands": (lambda h, lb, p: ((2, h - 1, p, p), (2, lb, p, p)), "hsi"),
    "hsi patch": (lambda h, lb, p: ((2, h, p + 2, p + 2), (2, lb, p, p)), "hsi"),
    "both patches": (lambda h, lb, p: ((2, h, p + 2, p + 2), (2, lb, p + 2, p + 2)), "hsi"),
    "lidar bands": (lambda h, lb, p: ((2, h, p, p), (2, lb + 1, p, p)), "lidar"),
    "batch mismatch": (lambda h, lb, p: ((2, h, p, p), (3, lb, p, p)), "lidar"),
    "no batch axis": (lambda h, lb, p: ((h, p, p), (2, lb, p, p)), "hsi"),
    "a spectrum, not a patch": (lambda h, lb, p: ((2, h), (2, lb, p, p)), "hsi"),
}


@pytest.mark.parametrize("wrong", WRONG)
@pytest.mark.parametrize("name", METHODS)
def test_wrong_input_shape_names_class_tensor_and_expected_shape(name: str, wrong: str) -> None:
    m = METHODS[name]
    hsi, lidar, patch = m.small
    shapes, tensor = WRONG[wrong]
    hsi_shape, lidar_shape = shapes(hsi, lidar, patch)
    bands = hsi if tensor == "hsi" else lidar
    with pytest.raises(ValueError) as info:
        m.tiny(out_dim=4)(torch.rand(*hsi_shape), torch.rand(*lidar_shape))
    message = str(info.value)
    given = hsi_shape if tensor == "hsi" else lidar_shape
    assert message.startswith(f"{m.cls.__name__}: {tensor} has shape {tuple(given)}")
    assert f"expected (B, {bands}, {patch}, {patch}) with the same B as hsi" in message


@pytest.mark.parametrize("name", METHODS)
def test_thirty_adam_steps_lower_the_loss(name: str) -> None:
    """Two classes whose HSI means differ (inputs in [0, 1], as EndNet's sigmoid decoders expect); the objective
    is cross-entropy + the network's auxiliary loss, if any (EndNet's reconstruction), as in training."""
    m = METHODS[name]
    hsi_bands, lidar_bands, patch = m.small
    torch.manual_seed(0)
    net = m.tiny(out_dim=16)
    head = nn.Linear(16, 2)
    y = torch.arange(16) % 2
    hsi = (0.35 + 0.3 * y.float())[:, None, None, None] + 0.15 * torch.rand(16, hsi_bands, patch, patch)
    lidar = torch.rand(16, lidar_bands, patch, patch)
    opt = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=1e-3)
    aux = getattr(net, "auxiliary_loss", None)

    def objective() -> tuple[torch.Tensor, torch.Tensor]:
        ce = nn.functional.cross_entropy(head(net(hsi, lidar)), y)
        return (ce + aux() if aux is not None else ce), ce

    first_total, first_ce = (v.item() for v in objective())
    for _ in range(30):
        total, _ = objective()
        opt.zero_grad()
        total.backward()
        opt.step()
    final_total, final_ce = (v.item() for v in objective())
    assert final_ce < 0.7 * first_ce, (first_ce, final_ce)
    assert final_total < 0.7 * first_total, (first_total, final_total)


@pytest.mark.parametrize("size", ["reference", "small"])
@pytest.mark.parametrize("name", METHODS)
def test_every_parameter_receives_a_gradient(name: str, size: str) -> None:
    """Cross-entropy (+ the auxiliary loss) reaches every parameter with a finite, non-zero gradient: at the
    reference widths (Trento's bands) and at test size with an out_dim other than the reference's."""
    m = METHODS[name]
    torch.manual_seed(0)
    if size == "reference":
        (hsi, lidar, _), patch = SCENES["trento"], m.patch
        net, width = m.reference(hsi, lidar), m.cls.reference_out_dim
    else:
        (hsi, lidar, patch), width = m.small, 16
        net = m.tiny(out_dim=width)
    head = nn.Linear(width, 2)
    logits = head(net(torch.rand(2, hsi, patch, patch), torch.rand(2, lidar, patch, patch)))  # (B=2, 2)
    loss = nn.functional.cross_entropy(logits, torch.tensor([0, 1]))
    aux = getattr(net, "auxiliary_loss", None)
    (loss + aux() if aux is not None else loss).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
