"""Samplers: a resumable training order, and evaluation under DDP scoring every image once.

Training (``ResumableSampler`` + ``ResumableLoader``): the sample order is a pure function of
(epoch, global sample index) -- epoch e uses the global indices e*n .. e*n + n - 1, rank r of W
takes every W-th of them starting at r, and each index makes the same sample on any worker
(``data.datasets.TrainPatches`` seeds it from (seed, index)). The loader implements Lightning's
``state_dict``/``load_state_dict`` protocol, so ``last.ckpt`` holds (epoch, batches consumed in
that epoch) and a resumed run continues with the very next batch instead of replaying the epoch
from its start (with any ``num_workers``, on every DDP rank).

Evaluation:

Lightning replaces a plain evaluation sampler with a padded ``DistributedSampler`` that repeats
images so that all ranks see the same number of batches; a set mean would then count some
images twice. ``eval_sampler`` returns an *unpadded* distributed sampler instead (ranks may get
one image fewer), which Lightning leaves alone because it already is a ``DistributedSampler``.
This is safe because the LightningModule performs no per-step collectives during evaluation and
reduces its metric sums once at the epoch end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch.distributed as dist
from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler


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


class ResumableSampler(DistributedSampler):
    """Global sample indices of the current epoch for one rank, resumable mid-epoch.

    Epoch e covers the global indices e*n .. e*n + n - 1 (n = ``samples_per_epoch``); rank r
    of ``world_size`` takes e*n + r, e*n + r + W, ... (n // W of them: no padding, no repeats).
    ``resume_at(epoch, skip)`` makes the next iteration over ``epoch`` start after its first
    ``skip`` samples, once. A ``DistributedSampler`` so that Lightning does not wrap it.

    Args:
        samples_per_epoch: n, over all ranks.
        rank, world_size: this process and the number of processes (0 and 1 outside DDP).
    """

    def __init__(self, samples_per_epoch: int, *, rank: int = 0, world_size: int = 1) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not within a world of size {world_size}")
        if samples_per_epoch < world_size:
            raise ValueError(
                f"samples_per_epoch ({samples_per_epoch}) must be at least the number of "
                f"processes ({world_size})"
            )
        # Not the parent's __init__: it needs a dataset and may query the process group.
        self.samples_per_epoch = samples_per_epoch
        self.rank = rank
        self.num_replicas = world_size
        self.epoch = 0
        self.shuffle = False
        self.drop_last = True
        self._resume: tuple[int, int] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume_at(self, epoch: int, skip: int) -> None:
        """Start the next iteration over ``epoch`` after its first ``skip`` samples (this rank)."""
        if skip < 0:
            raise ValueError(f"skip must be >= 0, got {skip}")
        self.epoch = epoch
        self._resume = (epoch, skip)

    def __iter__(self) -> Iterator[int]:
        skip = 0
        if self._resume is not None:
            resume_epoch, resume_skip = self._resume
            skip = resume_skip if resume_epoch == self.epoch else 0
            self._resume = None
        start = self.epoch * self.samples_per_epoch + self.rank
        indices = range(start, start + len(self) * self.num_replicas, self.num_replicas)
        return iter(indices[skip:])

    def __len__(self) -> int:
        return self.samples_per_epoch // self.num_replicas


class ResumableLoader(DataLoader):
    """A training ``DataLoader`` whose position Lightning saves in and restores from checkpoints.

    ``progress()`` returns the number of batches the training loop has consumed in the current
    epoch (the trainer's count, not the loader's: workers and prefetching run ahead of it). The
    sampler must be a ``ResumableSampler``; batches are ``batch_size`` consecutive samples of it.
    """

    def __init__(self, *args: Any, progress: Callable[[], int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.progress = progress

    def state_dict(self) -> dict[str, int]:
        # Lightning may swap the sampler (e.g. overfit_batches): then there is no position.
        if not isinstance(self.sampler, ResumableSampler):
            return {}
        return {"epoch": int(self.sampler.epoch), "batches": int(self.progress())}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if not state or not isinstance(self.sampler, ResumableSampler):
            return
        assert self.batch_size is not None
        self.sampler.resume_at(int(state["epoch"]), int(state["batches"]) * self.batch_size)


def batches_consumed(trainer: Any) -> int:
    """Training batches the trainer has run in its current epoch (0 without a trainer).

    Lightning counts a batch as processed once its optimizer step is done; a checkpoint saved
    at the end of a batch, at an exception between batches (SIGTERM) or after validation holds
    exactly these, and Lightning resumes with the batch after them.
    """
    if trainer is None:
        return 0
    return int(trainer.fit_loop.epoch_loop.batch_progress.current.processed)


def train_sampler(samples_per_epoch: int) -> ResumableSampler:
    """The training sampler of this process (sharded by rank inside a DDP process group)."""
    rank, world_size = distributed_world() or (0, 1)
    return ResumableSampler(samples_per_epoch, rank=rank, world_size=world_size)
