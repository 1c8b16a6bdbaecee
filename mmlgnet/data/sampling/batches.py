"""Index-level batching: shuffled, DDP-sharded batches of pixel positions, and the datasets that serve them."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler


class PixelBatchSampler(DistributedSampler):
    """Yields (B,) int64 tensors of positions into a subset of N pixels; one tensor = one batch.

    Shuffling (a permutation seeded by seed + epoch, identical on every rank) and sharding
    (rank r takes positions r, r + R, r + 2R, ... of the permutation) happen on indices, so with R
    ranks of batch B the union of the ranks' k-th batches is the k-th batch of one process with batch
    R·B. Training pads the permutation by wrapping to a multiple of R so every rank runs the same
    number of steps; evaluation never pads, so no pixel is counted twice. Subclassing
    DistributedSampler tells Lightning the data is already sharded (it would otherwise wrap it).
    """

    def __init__(
        self, num_items: int, batch_size: int, shuffle: bool, seed: int = 0, num_replicas: int = 1, rank: int = 0
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be ≥ 1.")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} outside [0, {num_replicas}).")
        self.num_items, self.batch_size, self.shuffle, self.seed = num_items, batch_size, shuffle, seed
        self.num_replicas, self.rank, self.epoch = num_replicas, rank, 0
        self.drop_last = False
        per_rank = math.ceil(num_items / num_replicas) if shuffle else len(range(rank, num_items, num_replicas))
        self.num_samples = per_rank
        self.total_size = per_rank * num_replicas

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _positions(self) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.rank, self.num_items, self.num_replicas)
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        perm = torch.randperm(self.num_items, generator=g)
        if self.total_size > self.num_items:  # wrap so every rank gets the same number of pixels
            perm = torch.cat([perm, perm[: self.total_size - self.num_items]])
        return perm[self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[torch.Tensor]:
        positions = self._positions()
        for start in range(0, len(positions), self.batch_size):
            batch = positions[start : start + self.batch_size]
            if self.shuffle and len(batch) == 1 and start > 0:
                continue  # a 1-pixel training batch breaks BatchNorm1d; it is reshuffled next epoch anyway
            yield batch

    def __len__(self) -> int:
        n, b = self.num_samples, self.batch_size
        full, rest = divmod(n, b)
        return full + (1 if rest > 1 or (rest == 1 and (not self.shuffle or full == 0)) else 0)


class PixelIndexDataset(Dataset):
    """Maps a batch of positions to (flat pixel indices (B,), class targets (B,)): patches are cut later, on the device."""

    def __init__(self, index: np.ndarray, target: np.ndarray) -> None:
        self.index = torch.as_tensor(index, dtype=torch.int64)  # (N,)
        self.target = torch.as_tensor(target, dtype=torch.int64)  # (N,), 0-based; −1 = unlabelled

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.index[positions], self.target[positions]


class PatchDataset(Dataset):
    """The per-sample reference path (what most peer code does): one patch sliced per __getitem__.

    Kept as `--data.pipeline per_sample` so benchmarks can compare against it and tests can check that
    both paths give identical batches for the same indices.
    """

    def __init__(
        self, padded: dict[str, np.ndarray], width: int, patch_size: int, index: np.ndarray, target: np.ndarray
    ) -> None:
        self.padded = padded  # modality -> (H + 2r, W + 2r, C) float32
        self.width, self.patch_size = width, patch_size
        self.index = np.asarray(index, dtype=np.int64)
        self.target = np.asarray(target, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        flat = int(self.index[i])
        r, c, p = flat // self.width, flat % self.width, self.patch_size
        item = {name: torch.from_numpy(np.ascontiguousarray(cube[r : r + p, c : c + p].transpose(2, 0, 1)))
                for name, cube in self.padded.items()}  # each (C, P, P)
        item["index"] = torch.tensor(flat)
        item["target"] = torch.tensor(self.target[i])
        return item
