"""Mini-batches drawn from an in-memory ImageSet, as dicts {"x": view of the images, "y": labels,
"index": row positions, and the set's per-row fields under their names}.

The order is a pure function of (seed, step): epoch e is shuffled by a generator seeded with
(seed, e), and a random view (dynamic binarisation, perturbation) of step s draws from a generator
seeded with (seed, s). So a
run resumed at step s sees exactly the batches an uninterrupted run would have seen, with no
iterator state to save. Slicing one tensor is also far cheaper than collating items one by one,
which matters for the small models this library trains on CPUs.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from genmodels.data.dataset import DataError, ImageSet
from genmodels.data.transforms import View, evaluation_view

Batch = dict[str, Tensor]


def _generator(*keys: int) -> torch.Generator:
    seed = 0
    for key in keys:  # a simple, stable mix of the keys into one 63-bit seed
        seed = (seed * 1_000_003 + key + 1) % (2**63 - 1)
    return torch.Generator().manual_seed(seed)


def make_batch(data: ImageSet, index: Tensor, view: View, generator: torch.Generator | None) -> Batch:
    # "index": the rows' positions in the data set, for models that treat some rows apart (the
    # semi-supervised AAE's labelled examples are the first N rows).
    batch = {"x": view(data.images[index], generator, index), "index": index}
    if data.labels is not None:
        batch["y"] = data.labels[index]
    batch.update({key: values[index] for key, values in data.fields.items()})
    return batch


def rows_batch(data: ImageSet, rows: Tensor, view: View, device: torch.device | str = "cpu") -> Batch:
    """The given rows of `data` (indices cycle past its end) in the fixed evaluation view, on
    `device`: the inputs that sample grids, figures and evaluation give to models that sample from
    data (a caption, key patches) or translate it."""
    batch = make_batch(data, rows % len(data), evaluation_view(view), None)
    return {k: v.to(device) for k, v in batch.items()}


class BatchStream:
    """Shuffled training batches; process `rank` of `world_size` takes its share of each global batch."""

    def __init__(
        self,
        data: ImageSet,
        view: View,
        batch_size: int,
        seed: int = 0,
        *,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < world_size or batch_size % world_size:
            raise DataError(f"batch size {batch_size} must be a multiple of the {world_size} processes")
        if len(data) < batch_size:
            raise DataError(f"{data.name}: {len(data)} images, fewer than one batch of {batch_size}")
        self.data, self.view, self.batch_size, self.seed = data, view, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.batches_per_epoch = len(data) // batch_size  # the last partial batch is dropped
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def _permutation(self, epoch: int) -> Tensor:
        if epoch != self._epoch:
            self._epoch = epoch
            self._order = torch.randperm(len(self.data), generator=_generator(self.seed, epoch))
        return self._order

    def batch(self, step: int) -> Batch:
        """The batch of global step `step` (0-based)."""
        epoch, position = divmod(step, self.batches_per_epoch)
        start = position * self.batch_size
        index = self._permutation(epoch)[start : start + self.batch_size]
        if not self.view.stochastic:
            return make_batch(self.data, index[self.rank :: self.world_size], self.view, None)
        # A random view draws for the whole global batch, then each process keeps its rows: the
        # rows see the same draws whatever the number of processes.
        batch = make_batch(self.data, index, self.view, _generator(self.seed, 1_000_000_007, step))
        if self.world_size == 1:
            return batch
        return {k: v[self.rank :: self.world_size] for k, v in batch.items()}

    def __call__(self, start: int, stop: int) -> Iterator[Batch]:
        for step in range(start, stop):
            yield self.batch(step)


def ordered_batches(data: ImageSet, view: View, batch_size: int, seed: int = 0) -> Iterator[Batch]:
    """Every image once, in order (for evaluation); a dynamic view draws from a seeded generator."""
    generator = _generator(seed, 2_000_000_011) if view.stochastic else None
    for start in range(0, len(data), batch_size):
        yield make_batch(data, torch.arange(start, min(start + batch_size, len(data))), view, generator)
