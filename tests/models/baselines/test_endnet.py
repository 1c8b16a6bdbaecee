"""EndNet under the network contract: shapes, reference counts, reconstruction loss, training, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mmlgnet.models.baselines.endnet import EndNet

# scene: (HSI bands, LiDAR bands, classes K)
SCENES = {"trento": (63, 1, 6), "muufl": (64, 2, 11), "houston2013": (144, 1, 15)}

# Total trainable parameters of the reference TF1 graph (danfenghong/IEEE_GRSL_EndNet EndNet.py @adbaf62,
# per pixel, classifier joint_encoder_h3/b3 and both decoders included), obtained by running
# reference_counts/count_endnet.py: it executes the reference's initialize_parameters() + mynetwork() under
# tf.compat.v1 (TensorFlow 2.21 + tf_keras) with 144 / 21 / 15 replaced by H / L / K (L = the scene's raw
# LiDAR bands, as fed here) and sums tf.compat.v1.trainable_variables() (BN γ, β; moving statistics excluded).
# Arithmetic cross-check, enc(i) = Σ over (i,16),(16,32),(32,64),(64,128) of a·b + b + 2b (Linear + BN):
#   joint = (256·128 + 128 + 256) + (128·64 + 64 + 128) = 41,536;  head = 64·K + K
#   dec(o) = (128·64 + 64) + (64·32 + 32) + (32·16 + 16) + (16·o + o)
# Trento:  enc(63) 12,480 + enc(1) 11,488 + 41,536 + dec(63) 11,935 + dec(1) 10,881 + 390 = 88,710
# MUUFL:   enc(64) 12,496 + enc(2) 11,504 + 41,536 + dec(64) 11,952 + dec(2) 10,898 + 715 = 89,101
# Houston: enc(144) 13,776 + enc(1) 11,488 + 41,536 + dec(144) 13,312 + dec(1) 10,881 + 975 = 91,968
# (Houston with the official 21 attribute-profile LiDAR features instead: 92,628.)
REFERENCE_TOTALS = {"trento": 88_710, "muufl": 89_101, "houston2013": 91_968}
REFERENCE_DECODERS = {"trento": 22_816, "muufl": 22_850, "houston2013": 24_193}


@pytest.fixture(autouse=True)
def _one_thread():  # 2 shared cores: one intra-op thread is faster and steadier than oversubscribed two
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.mark.parametrize("scene", SCENES)
def test_parameters_plus_linear_head_equal_the_reference_total(scene: str) -> None:
    hsi, lidar, classes = SCENES[scene]
    net = EndNet(hsi_bands=hsi, lidar_bands=lidar, patch_size=EndNet.reference_patch_size,
                 out_dim=EndNet.reference_out_dim)
    head = nn.Linear(EndNet.reference_out_dim, classes)
    assert n_params(net) + n_params(head) == REFERENCE_TOTALS[scene]


@pytest.mark.parametrize("scene", SCENES)
def test_without_reconstruction_only_the_decoders_are_missing(scene: str) -> None:
    hsi, lidar, classes = SCENES[scene]
    net = EndNet(hsi_bands=hsi, lidar_bands=lidar, patch_size=1, out_dim=64, reconstruction=False)
    assert n_params(net) + 64 * classes + classes == REFERENCE_TOTALS[scene] - REFERENCE_DECODERS[scene]
    net(torch.rand(4, hsi, 1, 1), torch.rand(4, lidar, 1, 1))
    assert net.auxiliary_loss().item() == 0.0


@pytest.mark.parametrize("patch", [1, 11, 7])
@pytest.mark.parametrize("scene", SCENES)
def test_forward_shape(scene: str, patch: int) -> None:
    hsi, lidar, _ = SCENES[scene]
    torch.manual_seed(0)
    net = EndNet(hsi_bands=hsi, lidar_bands=lidar, patch_size=patch, out_dim=EndNet.reference_out_dim)
    out = net(torch.rand(4, hsi, patch, patch), torch.rand(4, lidar, patch, patch))
    assert out.shape == (4, EndNet.reference_out_dim)
    assert torch.isfinite(out).all()
    assert net.auxiliary_loss().shape == () and net.auxiliary_loss().item() > 0


def test_out_dim_sets_the_feature_width() -> None:
    net = EndNet(hsi_bands=20, lidar_bands=2, patch_size=3, out_dim=7)
    assert net(torch.rand(3, 20, 3, 3), torch.rand(3, 2, 3, 3)).shape == (3, 7)


def test_only_the_centre_pixel_is_used() -> None:
    torch.manual_seed(0)
    net = EndNet(hsi_bands=20, lidar_bands=2, patch_size=5, out_dim=8).eval()
    hsi, lidar = torch.rand(3, 20, 5, 5), torch.rand(3, 2, 5, 5)
    changed_hsi, changed_lidar = torch.rand(3, 20, 5, 5), torch.rand(3, 2, 5, 5)
    changed_hsi[:, :, 2, 2], changed_lidar[:, :, 2, 2] = hsi[:, :, 2, 2], lidar[:, :, 2, 2]
    with torch.no_grad():
        assert torch.equal(net(hsi, lidar), net(changed_hsi, changed_lidar))
        loss = net.auxiliary_loss()
        net(hsi, lidar)
        assert torch.equal(loss, net.auxiliary_loss())


def test_auxiliary_loss_is_the_reconstruction_mse_of_the_latest_forward() -> None:
    torch.manual_seed(0)
    net = EndNet(hsi_bands=12, lidar_bands=3, patch_size=1, out_dim=8).eval()
    hsi, lidar = torch.rand(5, 12, 1, 1), torch.rand(5, 3, 1, 1)
    with torch.no_grad():
        net(hsi, lidar)
        x1, x2 = hsi[:, :, 0, 0], lidar[:, :, 0, 0]
        a1 = net.joint1(torch.cat([net.hsi_encoder(x1), net.lidar_encoder(x2)], 1))
        assert net.hsi_decoder is not None and net.lidar_decoder is not None
        expected = ((net.hsi_decoder(a1) - x1) ** 2).mean() + ((net.lidar_decoder(a1) - x2) ** 2).mean()
        assert torch.allclose(net.auxiliary_loss(), expected)


def test_auxiliary_loss_before_forward_raises() -> None:
    with pytest.raises(RuntimeError, match="call forward first"):
        EndNet(hsi_bands=12, lidar_bands=3, patch_size=1, out_dim=8).auxiliary_loss()


def test_thirty_adam_steps_lower_the_loss() -> None:
    """Two classes whose centre-pixel HSI means differ (inputs in [0, 1], as the sigmoid decoders expect); the
    objective is the reference's: cross-entropy + reconstruction loss."""
    torch.manual_seed(0)
    net = EndNet(hsi_bands=16, lidar_bands=1, patch_size=3, out_dim=64)
    head = nn.Linear(64, 2)
    y = torch.arange(32) % 2
    hsi = (0.35 + 0.3 * y.float())[:, None, None, None] + 0.15 * torch.rand(32, 16, 3, 3)
    lidar = torch.rand(32, 1, 3, 3)
    opt = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=1e-3)

    def objective() -> tuple[torch.Tensor, torch.Tensor]:
        ce = nn.functional.cross_entropy(head(net(hsi, lidar)), y)
        return ce + net.auxiliary_loss(), ce

    first_total, first_ce = (v.item() for v in objective())
    for _ in range(30):
        total, _ = objective()
        opt.zero_grad()
        total.backward()
        opt.step()
    final_total, final_ce = (v.item() for v in objective())
    assert final_total < 0.7 * first_total, (first_total, final_total)
    assert final_ce < 0.7 * first_ce, (first_ce, final_ce)


def test_every_parameter_receives_a_gradient_from_cross_entropy_plus_reconstruction() -> None:
    torch.manual_seed(0)
    net = EndNet(hsi_bands=64, lidar_bands=2, patch_size=11, out_dim=EndNet.reference_out_dim)
    head = nn.Linear(EndNet.reference_out_dim, 11)
    logits = head(net(torch.rand(4, 64, 11, 11), torch.rand(4, 2, 11, 11)))
    (nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3])) + net.auxiliary_loss()).backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None]
    assert not missing
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


@pytest.mark.parametrize(("hsi_shape", "lidar_shape", "tensor", "expected"), [
    ((2, 19, 3, 3), (2, 2, 3, 3), "hsi", "(B, 20, 3, 3)"),         # wrong band count
    ((2, 20, 1, 1), (2, 2, 3, 3), "hsi", "(B, 20, 3, 3)"),         # wrong patch
    ((2, 20, 3, 3), (2, 1, 3, 3), "lidar", "(B, 2, 3, 3)"),        # wrong LiDAR bands
    ((2, 20, 3, 3), (3, 2, 3, 3), "lidar", "same B"),              # batch mismatch
    ((2, 20), (2, 2, 3, 3), "hsi", "(B, 20, 3, 3)"),               # a spectrum, not a patch
])
def test_wrong_input_shape_names_class_tensor_and_expected_shape(hsi_shape: tuple[int, ...],
                                                                  lidar_shape: tuple[int, ...],
                                                                  tensor: str, expected: str) -> None:
    net = EndNet(hsi_bands=20, lidar_bands=2, patch_size=3, out_dim=4)
    with pytest.raises(ValueError, match="EndNet") as info:
        net(torch.rand(*hsi_shape), torch.rand(*lidar_shape))
    assert f"{tensor} has shape" in str(info.value) and expected in str(info.value)
