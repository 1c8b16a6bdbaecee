"""SyncBatchNorm that also works on CPU (gloo), so `--trainer.sync_batchnorm true` runs under CPU DDP too."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn
from lightning.pytorch.plugins.layer_sync import TorchSyncBatchNorm
from torch import Tensor, nn


class AnyDeviceSyncBatchNorm(nn.SyncBatchNorm):
    """torch's SyncBatchNorm on accelerators; on CPU (where torch refuses to sync) batch statistics are
    all-reduced here with autograd-aware collectives, so the normalisation and its gradient are those of
    one BatchNorm over the global batch (the union of the ranks' batches)."""

    def forward(self, input: Tensor) -> Tensor:
        if input.device.type != "cpu" or not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(input)
        group = self.process_group or dist.group.WORLD
        c = input.shape[1]
        dims = [0, *range(2, input.dim())]
        shape = [1, c] + [1] * (input.dim() - 2)
        x = input.float()  # statistics in fp32, also under bf16 autocast
        count = torch.tensor([x.numel() // c], dtype=x.dtype, device=x.device)
        total = dist_nn.all_reduce(torch.cat([x.sum(dims), count]), group=group)  # (C + 1,)
        n = total[-1]
        mean = total[:c] / n  # (C,)
        centred = x - mean.view(shape)
        var = dist_nn.all_reduce((centred * centred).sum(dims), group=group) / n  # (C,), biased (two-pass)
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), m)
                self.running_var.lerp_(var.detach() * n / (n - 1).clamp(min=1), m)  # unbiased, as torch does
        y = centred * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(input.dtype)


class AnyDeviceSyncBatchNormPlugin(TorchSyncBatchNorm):
    """Lightning layer-sync plugin: like `sync_batchnorm=True`, but the layers also sync on CPU (gloo)."""

    def apply(self, model: nn.Module) -> nn.Module:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        for module in model.modules():
            if type(module) is nn.SyncBatchNorm:
                module.__class__ = AnyDeviceSyncBatchNorm
        return model
