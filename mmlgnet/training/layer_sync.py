"""Lightning's layer-sync plugin for `--trainer.sync_batchnorm true` that also syncs on CPU (gloo): the layers
are mmlgnet.models.syncbn.AnyDeviceSyncBatchNorm wherever torch's SyncBatchNorm refuses the tensors."""

from __future__ import annotations

import torch.distributed as dist
from lightning.pytorch.plugins.layer_sync import TorchSyncBatchNorm
from torch import nn

from mmlgnet.models.syncbn import convert


class AnyDeviceSyncBatchNormPlugin(TorchSyncBatchNorm):
    """Lightning layer-sync plugin: like `sync_batchnorm=True`, but the layers also sync on CPU (gloo)."""

    def apply(self, model: nn.Module) -> nn.Module:
        # Lightning applies layer sync BEFORE moving the model to its device, so the parameters' device says
        # nothing here; the process group's backend does: NCCL means CUDA tensors, where torch's fused
        # SyncBatchNorm works; anything else (gloo on CPU) gets the autograd-collective version.
        if dist.is_available() and dist.is_initialized() and dist.get_backend() == "nccl":
            return super().apply(model)
        return convert(model)
