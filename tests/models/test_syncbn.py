"""The CPU-capable synchronised BatchNorm equals plain BatchNorm on one rank, and the plugin picks it for gloo."""

import torch
import torch.distributed as dist
from torch import nn

from mmlgnet.models.syncbn import AnyDeviceSyncBatchNorm
from mmlgnet.training.layer_sync import AnyDeviceSyncBatchNormPlugin


def test_one_rank_gloo_matches_batchnorm(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        ref = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        synced = AnyDeviceSyncBatchNormPlugin().apply(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)))
        synced.load_state_dict(ref.state_dict())
        assert isinstance(synced[1], AnyDeviceSyncBatchNorm)  # gloo backend: our version, not torch's
        x = torch.randn(5, 3, 7, 7)
        y_ref, y = ref(x), synced(x)
        torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
        y.sum().backward()
        y_ref.sum().backward()
        torch.testing.assert_close(synced[0].weight.grad, ref[0].weight.grad, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(synced[1].running_var, ref[1].running_var)
        torch.testing.assert_close(synced[1].running_mean, ref[1].running_mean)
    finally:
        dist.destroy_process_group()
