"""The shared decoded cache: the same samples as decoding files, one copy for all workers."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from data.cache import MappedImages, cache_key
from data.datasets import TrainPatches
from data.degradations import BayerMosaic, BicubicDown, GaussianNoise
from data.samplers import ResumableSampler
from data.sources import ImageFolder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    root.mkdir()
    rng = np.random.default_rng(3)
    for name, shape in {"a": (40, 52, 3), "b": (44, 36, 3), "grey": (38, 41)}.items():
        Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8)).save(root / f"{name}.png")
    return root


def samples(source, degradation, indices=range(12), colour="rgb") -> list[dict]:
    dataset = TrainPatches(
        source, degradation=degradation, patch_size=8, samples_per_epoch=64, seed=5, colour=colour
    )
    return [dataset[i] for i in indices]


def assert_same(first: list[dict], second: list[dict]) -> None:
    assert len(first) == len(second)
    for x, y in zip(first, second, strict=True):
        assert x["name"] == y["name"]
        assert x["lq"].dtype == torch.float32 and x["gt"].dtype == torch.float32
        torch.testing.assert_close(x["lq"], y["lq"], rtol=0, atol=0)
        torch.testing.assert_close(x["gt"], y["gt"], rtol=0, atol=0)


@pytest.mark.parametrize(
    ("degradation", "colour"),
    [
        (GaussianNoise(30.0), "rgb"),
        (BicubicDown(2), "rgb"),
        (BayerMosaic(), "rgb"),
        (GaussianNoise(10.0), "y"),
    ],
)
def test_cache_gives_the_samples_of_the_files(
    folder: Path, tmp_path: Path, degradation, colour: str
) -> None:
    files = ImageFolder(folder)
    mapped = MappedImages.build(files, tmp_path / "cache")
    assert_same(
        samples(files, degradation, colour=colour), samples(mapped, degradation, colour=colour)
    )
    for i in range(len(files)):
        torch.testing.assert_close(mapped.load(i), files.load(i), rtol=0, atol=0)
        assert mapped.load_uint8(i).dtype == torch.uint8


def test_pickled_cache_carries_the_index_not_the_pixels(folder: Path, tmp_path: Path) -> None:
    mapped = MappedImages.build(ImageFolder(folder), tmp_path / "cache")
    mapped.load_uint8(0)  # opens the map in this process
    payload = pickle.dumps(mapped)
    assert len(payload) < os.path.getsize(mapped.data_file) // 4
    clone = pickle.loads(payload)
    torch.testing.assert_close(clone.load_uint8(1), mapped.load_uint8(1), rtol=0, atol=0)


def test_workers_read_the_same_batches_from_the_cache(folder: Path, tmp_path: Path) -> None:
    mapped = MappedImages.build(ImageFolder(folder), tmp_path / "cache")
    dataset = TrainPatches(
        mapped, degradation=GaussianNoise(30.0), patch_size=8, samples_per_epoch=8
    )

    def batches(workers: int) -> list[torch.Tensor]:
        loader = DataLoader(dataset, batch_size=4, sampler=ResumableSampler(8), num_workers=workers)
        return [b["lq"] for b in loader]

    for a, b in zip(batches(0), batches(1), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_cache_is_reused_and_rebuilt_when_a_file_changes(folder: Path, tmp_path: Path) -> None:
    first = MappedImages.build(ImageFolder(folder), tmp_path / "cache")
    written = first.data_file.stat().st_mtime_ns
    again = MappedImages.build(ImageFolder(folder), tmp_path / "cache")
    assert again.data_file == first.data_file and again.data_file.stat().st_mtime_ns == written
    Image.fromarray(np.zeros((40, 52, 3), dtype=np.uint8)).save(folder / "a.png")
    os.utime(folder / "a.png", ns=(written + 10**9, written + 10**9))
    changed = MappedImages.build(ImageFolder(folder), tmp_path / "cache")
    assert changed.data_file != first.data_file
    assert int(changed.load_uint8(0).sum()) == 0
    assert cache_key(ImageFolder(folder)) in changed.data_file.name
