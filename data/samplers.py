"""Samplers for evaluation under DDP: every image is scored exactly once.

Lightning replaces a plain evaluation sampler with a padded ``DistributedSampler`` that repeats
images so that all ranks see the same number of batches; a set mean would then count some
images twice. ``eval_sampler`` returns an *unpadded* distributed sampler instead (ranks may get
one image fewer), which Lightning leaves alone because it already is a ``DistributedSampler``.
This is safe because the LightningModule performs no per-step collectives during evaluation and
reduces its metric sums once at the epoch end.
"""

from __future__ import annotations

import torch.distributed as dist
from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import Dataset, Sampler


def distributed_world() -> tuple[int, int] | None:
    """``(rank, world_size)`` when a process group with more than one process is running."""
    if not (dist.is_available() and dist.is_initialized()):
        return None
    world_size = dist.get_world_size()
    return (dist.get_rank(), world_size) if world_size > 1 else None


def eval_sampler(dataset: Dataset) -> Sampler[int] | None:
    """The sampler for a validation/test loader over ``dataset`` (batch size 1, no shuffling).

    Returns None (use the DataLoader's default sequential order) outside distributed runs, and an
    ``UnrepeatedDistributedSampler`` (rank r gets images r, r + W, r + 2W, ...) inside them.
    """
    world = distributed_world()
    if world is None:
        return None
    rank, world_size = world
    return UnrepeatedDistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=False)
