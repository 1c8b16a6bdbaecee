"""FusAtNet under the network contract: shapes, reference parameter counts, training, gradients, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mmlgnet.models.baselines.fusatnet import FusAtNet

# scene: (HSI bands, LiDAR bands, classes K)
SCENES = {"trento": (63, 1, 6), "muufl": (64, 2, 11), "houston2013": (144, 1, 15)}

# Total trainable parameters of the reference Keras model (ShivamP1993/FusAtNet model.py @776fc9b, 11x11
# input, classifier included), obtained by running reference_counts/count_fusatnet.py: it executes the
# reference's own hs/mask_spec/mask_spat/main2/att2/clf functions with Input (11, 11, H), (11, 11, L) and
# clf(..., K) under TensorFlow 2.21 / Keras 3.15 and sums `model.trainable_weights` (BN γ, β; moving
# statistics excluded).
# Arithmetic cross-check, unit(i, o) = 9·i·o + o (conv 3x3) + 2·o (BN):
#   hs    = unit(H,256) + 4·unit(256,256) + unit(256,1024)
#   spec  = unit(H,256) + unit(256,256) + 2·unit(512,256) + unit(256,256) + unit(256,1024)
#   spat  = unit(L,128) + unit(128,128) + unit(256,128) + unit(128,256) + unit(384,256) + unit(256,1024)
#   main2 = hs with H → C = H + L + 2048;  att2 = spat with L → C
#   clf   = unit(1024,256) + 3·unit(256,256) + unit(256,1024) + (1024·K + K)   [1x1 conv = the linear head]
# Trento:  4,870,656 + 6,050,304 + 3,988,224 + 9,591,552 + 6,420,096 + 6,494,208 + 6,150  = 37,421,190
# MUUFL:   4,872,960 + 6,052,608 + 3,989,376 + 9,596,160 + 6,422,400 + 6,494,208 + 11,275 = 37,438,987
# Houston: 5,057,280 + 6,236,928 + 3,988,224 + 9,778,176 + 6,513,408 + 6,494,208 + 15,375 = 38,083,599
REFERENCE_TOTALS = {"trento": 37_421_190, "muufl": 37_438_987, "houston2013": 38_083_599}



@pytest.fixture(autouse=True)
def _one_thread():  # 2 shared cores: one intra-op thread is faster and steadier than oversubscribed two
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SMALL = {"channels": 8, "mask_channels": 4, "feature_channels": 16}  # same structure, test-sized widths


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.mark.parametrize("scene", SCENES)
def test_parameters_plus_linear_head_equal_the_reference_total(scene: str) -> None:
    hsi, lidar, classes = SCENES[scene]
    net = FusAtNet(hsi_bands=hsi, lidar_bands=lidar, patch_size=FusAtNet.reference_patch_size,
                   out_dim=FusAtNet.reference_out_dim)
    head = nn.Linear(FusAtNet.reference_out_dim, classes)
    assert n_params(net) + n_params(head) == REFERENCE_TOTALS[scene]


@pytest.mark.parametrize("patch", [11, 13])
@pytest.mark.parametrize("scene", SCENES)
def test_forward_shape_at_reference_widths(scene: str, patch: int) -> None:
    hsi, lidar, _ = SCENES[scene]
    torch.manual_seed(0)
    net = FusAtNet(hsi_bands=hsi, lidar_bands=lidar, patch_size=patch, out_dim=FusAtNet.reference_out_dim)
    net.eval()
    with torch.no_grad():
        out = net(torch.randn(2, hsi, patch, patch), torch.randn(2, lidar, patch, patch))
    assert out.shape == (2, FusAtNet.reference_out_dim)
    assert torch.isfinite(out).all()


def test_out_dim_sets_the_feature_width() -> None:
    net = FusAtNet(hsi_bands=10, lidar_bands=2, patch_size=11, out_dim=7, **SMALL)
    assert net(torch.randn(3, 10, 11, 11), torch.randn(3, 2, 11, 11)).shape == (3, 7)


def _two_class_batch(n: int, hsi: int, lidar: int,
                     patch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two classes whose HSI means differ by 1 (noise σ = 1); LiDAR is pure noise."""
    y = torch.arange(n) % 2
    x_hsi = torch.randn(n, hsi, patch, patch) + (y.float() - 0.5)[:, None, None, None]
    return x_hsi, torch.randn(n, lidar, patch, patch), y


def test_thirty_adam_steps_lower_the_loss() -> None:
    torch.manual_seed(0)
    net = FusAtNet(hsi_bands=8, lidar_bands=1, patch_size=11, out_dim=16, **SMALL)
    head = nn.Linear(16, 2)
    x_hsi, x_lidar, y = _two_class_batch(32, 8, 1, 11)
    opt = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=1e-3)
    losses = []
    for _ in range(30):
        loss = nn.functional.cross_entropy(head(net(x_hsi, x_lidar)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    final = nn.functional.cross_entropy(head(net(x_hsi, x_lidar)), y).item()
    assert final < 0.7 * losses[0], (losses[0], final)


def test_every_parameter_receives_a_gradient_at_reference_widths() -> None:
    torch.manual_seed(0)
    net = FusAtNet(hsi_bands=63, lidar_bands=1, patch_size=11, out_dim=FusAtNet.reference_out_dim)
    head = nn.Linear(FusAtNet.reference_out_dim, 6)
    loss = nn.functional.cross_entropy(head(net(torch.randn(2, 63, 11, 11), torch.randn(2, 1, 11, 11))),
                                       torch.tensor([0, 1]))
    loss.backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None]
    assert not missing
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


@pytest.mark.parametrize(("hsi_shape", "lidar_shape", "tensor", "expected"), [
    ((2, 9, 11, 11), (2, 2, 11, 11), "hsi", "(B, 10, 11, 11)"),      # wrong band count
    ((2, 10, 13, 13), (2, 2, 11, 11), "hsi", "(B, 10, 11, 11)"),     # wrong patch
    ((2, 10, 11, 11), (2, 1, 11, 11), "lidar", "(B, 2, 11, 11)"),    # wrong LiDAR bands
    ((2, 10, 11, 11), (3, 2, 11, 11), "lidar", "same B"),            # batch mismatch
    ((10, 11, 11), (2, 2, 11, 11), "hsi", "(B, 10, 11, 11)"),        # no batch axis
])
def test_wrong_input_shape_names_class_tensor_and_expected_shape(hsi_shape: tuple[int, ...],
                                                                  lidar_shape: tuple[int, ...],
                                                                  tensor: str, expected: str) -> None:
    net = FusAtNet(hsi_bands=10, lidar_bands=2, patch_size=11, out_dim=4, **SMALL)
    with pytest.raises(ValueError, match="FusAtNet") as info:
        net(torch.randn(*hsi_shape), torch.randn(*lidar_shape))
    assert f"{tensor} has shape" in str(info.value) and expected in str(info.value)


@pytest.mark.parametrize("patch", [9, 7, 1])
def test_patch_smaller_than_the_reference_is_refused(patch: int) -> None:
    with pytest.raises(ValueError, match=r"FusAtNet: patch_size=\d+; expected an integer >= 11"):
        FusAtNet(hsi_bands=10, lidar_bands=2, patch_size=patch, out_dim=4)
