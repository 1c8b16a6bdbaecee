"""MDLMiddleFusion: contract (shapes, errors), reference parameter counts, short training, no unused parameters."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mmlgnet.models.baselines.mdl_middle import MDLMiddleFusion

# (hsi_bands, lidar_bands, classes) of each scene.
SCENES = {"trento": (63, 1, 6), "muufl": (64, 2, 11), "houston2013": (144, 1, 15)}
REFERENCE_PATCH = 7  # Middle_fusion_CNNs.py: tf.reshape(x1, [-1, 7, 7, 144])

# Trainable variables of the REFERENCE TF graph with a K-way classifier, counted by running its own
# initialize_parameters() + mynetwork() (danfenghong/IEEE_TGRS_MDL-RS MDL-RS_CNNs/Middle_fusion_CNNs.py
# @ cb0e1287c6011dfa127a9d2fb10991dbb47e9ac1) under tf.compat.v1 with the hard-coded 144 / 21 / 15 replaced by
# each scene's C1 / C2 / K, summing tf.trainable_variables() (reference_counts/count_mdl_middle.py; TF 2.21 +
# tf_keras in a scratch venv). Arithmetic (conv kernels + biases, BN γ + β; TF's moving statistics are not
# trainable):
#   branch(C) = (9·C·16 + 16) + 2·16 + (16·32 + 32) + 2·32 + (9·32·64 + 64) + 2·64 + (64·128 + 128) + 2·128
#             = 144·C + 27,856
#   joint     = (256·128 + 128) + 2·128 + (128·64 + 64) + 2·64 = 41,536;   classifier = 64·K + K
#   total     = 144·(C1 + C2) + 2·27,856 + 41,536 + 65·K = 144·(C1 + C2) + 97,248 + 65·K
#   trento 144·64 + 97,248 + 390 = 106,854; muufl 144·66 + 97,248 + 715 = 107,467;
#   houston2013 144·145 + 97,248 + 975 = 119,103 (with the reference's own 21-band attribute-profile
#   LiDAR: 121,983).
REFERENCE_TOTAL = {"trento": 106_854, "muufl": 107_467, "houston2013": 119_103}


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: these tiny tensors run many times slower when threads fight for shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def make(
    hsi: int, lidar: int, patch: int = REFERENCE_PATCH, out_dim: int = MDLMiddleFusion.reference_out_dim
):
    return MDLMiddleFusion(hsi_bands=hsi, lidar_bands=lidar, patch_size=patch, out_dim=out_dim)


@pytest.mark.parametrize("scene", sorted(SCENES))
@pytest.mark.parametrize("patch", [REFERENCE_PATCH, 11])
def test_forward_shape(scene: str, patch: int) -> None:
    hsi, lidar, _ = SCENES[scene]
    torch.manual_seed(0)
    net = make(hsi, lidar, patch).eval()
    with torch.no_grad():
        out = net(torch.randn(2, hsi, patch, patch), torch.randn(2, lidar, patch, patch))
    assert out.shape == (2, MDLMiddleFusion.reference_out_dim)
    assert torch.isfinite(out).all()


def test_out_dim_other_than_reference() -> None:
    net = make(8, 1, 5, out_dim=20)
    assert net(torch.randn(3, 8, 5, 5), torch.randn(3, 1, 5, 5)).shape == (3, 20)


def test_global_pool_equals_the_reference_pool_at_its_patch_size() -> None:
    """At 7×7 the map before the last pool is 2×2, so the reference's avgpool 2/2 is the global mean."""
    torch.manual_seed(0)
    net = make(8, 1).eval()
    hsi, lidar = torch.randn(3, 8, 7, 7), torch.randn(3, 1, 7, 7)
    with torch.no_grad():
        joint = torch.cat([net.hsi_branch(hsi), net.lidar_branch(lidar)], dim=1)
        assert joint.shape == (3, 256, 2, 2)
        reference = torch.relu(nn.functional.avg_pool2d(net.joint(joint), 2, 2)).flatten(1)
        assert torch.allclose(net(hsi, lidar), reference, atol=1e-6)


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_parameter_count_matches_reference(scene: str) -> None:
    hsi, lidar, classes = SCENES[scene]
    out_dim = MDLMiddleFusion.reference_out_dim
    ours = n_params(make(hsi, lidar)) + out_dim * classes + classes  # + the package's Linear(out_dim, K) head
    assert ours == REFERENCE_TOTAL[scene]


@pytest.mark.parametrize(
    ("hsi_shape", "lidar_shape", "tensor"),
    [
        ((2, 9, 7, 7), (2, 1, 7, 7), "hsi"),
        ((2, 8, 7, 7), (2, 2, 7, 7), "lidar"),
        ((2, 8, 9, 9), (2, 1, 9, 9), "hsi"),
        ((8, 7, 7), (2, 1, 7, 7), "hsi"),
    ],
)
def test_wrong_input_shape_is_named(hsi_shape: tuple, lidar_shape: tuple, tensor: str) -> None:
    net = make(8, 1)
    with pytest.raises(ValueError, match=rf"MDLMiddleFusion: {tensor} has shape .*expected \(B, \d+, 7, 7\)"):
        net(torch.randn(*hsi_shape), torch.randn(*lidar_shape))


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    net = make(8, 2, out_dim=16)
    net(torch.randn(4, 8, 7, 7), torch.randn(4, 2, 7, 7)).square().sum().backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_short_training_lowers_the_loss() -> None:
    torch.manual_seed(0)
    labels = torch.arange(16) % 2
    hsi = torch.randn(16, 8, 7, 7) + 1.5 * labels.view(-1, 1, 1, 1)  # class 1 is brighter
    lidar = torch.randn(16, 1, 7, 7)
    net = make(8, 1)
    head = nn.Linear(MDLMiddleFusion.reference_out_dim, 2)
    optimizer = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=1e-3)
    losses = []
    for _ in range(31):
        loss = nn.functional.cross_entropy(head(net(hsi, lidar)), labels)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < 0.7 * losses[0]
