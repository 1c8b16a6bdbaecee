"""Synchronised BatchNorm that also works on CPU (gloo), so `--trainer.sync_batchnorm true` runs under CPU DDP.

Pure PyTorch; Lightning applies it through mmlgnet.training.layer_sync.AnyDeviceSyncBatchNormPlugin.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm


class AnyDeviceSyncBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics are all-reduced over the ranks with autograd-aware collectives,
    so the normalisation and its gradient are those of ONE BatchNorm over the global batch (the union of
    the ranks' batches). Used where torch's SyncBatchNorm refuses the tensors (CPU / gloo); not a subclass
    of nn.SyncBatchNorm, which DDP rejects on CPU modules."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group: Any = None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (N, C, ...), got {input.dim()}-D")

    def forward(self, input: Tensor) -> Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()):
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
        tracked = self.num_batches_tracked
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None \
                and tracked is not None:
            with torch.no_grad():
                tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(tracked)
                self.running_mean.lerp_(mean.detach(), m)
                self.running_var.lerp_(var.detach() * n / (n - 1).clamp(min=1), m)  # unbiased, as torch does
        y = centred * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(input.dtype)


def convert(module: nn.Module) -> nn.Module:
    """`module` with every BatchNorm replaced by an AnyDeviceSyncBatchNorm sharing its parameters and buffers."""
    out = module
    if isinstance(module, _BatchNorm) and not isinstance(module, AnyDeviceSyncBatchNorm):
        out = AnyDeviceSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                     module.track_running_stats)
        if module.affine:
            out.weight, out.bias = module.weight, module.bias
        out.running_mean, out.running_var = module.running_mean, module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, convert(child))
    return out
