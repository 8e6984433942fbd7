"""The resumable training order: a function of (epoch, global index), sharded per rank,
skipping exactly the consumed batches once after a resume."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from data.samplers import ResumableLoader, ResumableSampler


def test_epochs_cover_consecutive_global_indices() -> None:
    sampler = ResumableSampler(4)
    assert list(sampler) == [0, 1, 2, 3] and len(sampler) == 4
    sampler.set_epoch(2)
    assert list(sampler) == [8, 9, 10, 11]


def test_ranks_share_an_epoch_without_padding_or_repeats() -> None:
    ranks = [ResumableSampler(7, rank=r, world_size=2) for r in range(2)]
    for sampler in ranks:
        sampler.set_epoch(1)
    assert [list(s) for s in ranks] == [[7, 9, 11], [8, 10, 12]]  # the 7th sample is dropped


def test_resume_skips_once_and_only_in_its_epoch() -> None:
    sampler = ResumableSampler(6, rank=1, world_size=2)
    sampler.resume_at(3, 2)
    assert list(sampler) == [23]  # epoch 3 of rank 1 is 19, 21, 23
    assert list(sampler) == [19, 21, 23]  # the next pass over the epoch is whole again
    sampler.resume_at(3, 1)
    sampler.set_epoch(4)
    assert list(sampler) == [25, 27, 29]


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_state_round_trip_continues_with_the_next_batch(workers: int) -> None:
    data = TensorDataset(torch.arange(100))

    def loader(progress: int) -> ResumableLoader:
        return ResumableLoader(
            data,
            batch_size=2,
            sampler=ResumableSampler(8),
            num_workers=workers,
            progress=lambda: progress,
        )

    first = loader(progress=3)
    first.sampler.set_epoch(2)
    whole = [b[0].tolist() for b in first]
    state = first.state_dict()
    assert state == {"epoch": 2, "batches": 3}
    second = loader(progress=0)
    second.load_state_dict(state)
    assert [b[0].tolist() for b in second] == whole[3:] == [[22, 23]]


def test_bad_rank_is_refused() -> None:
    with pytest.raises(ValueError, match="rank 2 is not within a world of size 2"):
        ResumableSampler(8, rank=2, world_size=2)
