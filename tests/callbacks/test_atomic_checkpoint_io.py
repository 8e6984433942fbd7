"""AtomicCheckpointIO: complete files only, the previous checkpoint survives a failed write."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from callbacks.atomic_checkpoint_io import AtomicCheckpointIO


class ExplodesWhenPickled:
    """An object whose serialization fails, after torch.save has already written bytes."""

    def __reduce__(self):  # noqa: ANN204
        raise RuntimeError("simulated crash mid-write")


def test_round_trip_with_weights_only(tmp_path: Path) -> None:
    io = AtomicCheckpointIO()
    path = tmp_path / "sub" / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.arange(4.0)}, "global_step": 7}, path)
    loaded = io.load_checkpoint(path, weights_only=True)
    assert loaded["global_step"] == 7 and torch.equal(loaded["state_dict"]["w"], torch.arange(4.0))
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]


def test_failed_write_keeps_previous_checkpoint_and_leaves_no_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"global_step": 1, "w": torch.ones(3)}, path)
    before = path.read_bytes()
    big = torch.zeros(200_000)  # written to the stream before the failing object
    with pytest.raises(RuntimeError, match="simulated crash"):
        AtomicCheckpointIO().save_checkpoint({"w": big, "z": ExplodesWhenPickled()}, path)
    assert path.read_bytes() == before
    assert torch.load(path, weights_only=True)["global_step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_plain_torch_save_would_have_left_a_partial_file(tmp_path: Path) -> None:
    """The failure above really happens mid-write (so the previous test can fail)."""
    path = tmp_path / "plain.ckpt"
    with pytest.raises(RuntimeError):
        torch.save({"w": torch.zeros(200_000), "z": ExplodesWhenPickled()}, path)
    assert path.exists() and path.stat().st_size > 0
    with pytest.raises(Exception):  # noqa: B017 - any unpickling error
        torch.load(path, weights_only=True)


def test_storage_options_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="storage_options"):
        AtomicCheckpointIO().save_checkpoint({}, tmp_path / "a.ckpt", storage_options={"x": 1})
