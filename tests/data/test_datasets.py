"""Tests for data.transforms and data.datasets: patches, alignment, determinism, colour, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from data.datasets import EvalImages, TrainPatches, crop_grid
from data.degradations import JPEG, BicubicDown, GaussianNoise
from data.samplers import ResumableSampler
from data.seeding import eval_generator
from data.sources import ImageFolder, PairedFolders
from panet.imaging.color import rgb_to_y
from panet.imaging.dihedral import dihedral_variant
from panet.imaging.io import read_image


def _write(path: Path, h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, size=(h, w, channels), dtype=np.uint8)
    Image.fromarray(array[:, :, 0] if channels == 1 else array).save(path)
    return array


@pytest.fixture
def folder(tmp_path: Path) -> ImageFolder:
    _write(tmp_path / "imgs" / "a.png", 40, 52, seed=1)
    _write(tmp_path / "imgs" / "b.png", 45, 37, seed=2)
    return ImageFolder(tmp_path / "imgs")


def test_dihedral_gives_8_distinct_invertible_transforms() -> None:
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)
    outs = [dihedral_variant(x, k) for k in range(8)]
    assert torch.equal(outs[0], x)
    assert len({tuple(o.shape) + tuple(o.flatten().tolist()) for o in outs}) == 8
    with pytest.raises(ValueError, match="0..7"):
        dihedral_variant(x, 8)


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_train_patch_shapes(folder: ImageFolder, scale: int) -> None:
    degradation = BicubicDown(scale) if scale > 1 else GaussianNoise(10.0)
    data = TrainPatches(folder, degradation=degradation, patch_size=8, samples_per_epoch=5)
    assert len(data) == 5
    item = data[3]
    assert item["gt"].shape == (3, 8 * scale, 8 * scale) and item["gt"].dtype == torch.float32
    assert item["lq"].shape == (3, 8, 8) and item["lq"].dtype == torch.float32
    assert item["name"] in ("a", "b")
    assert item["lq"].min() >= 0 and item["lq"].max() <= 255


def test_train_patches_are_deterministic_per_index(folder: ImageFolder) -> None:
    def make(seed: int) -> TrainPatches:
        return TrainPatches(
            folder, degradation=GaussianNoise(25.0), patch_size=8, samples_per_epoch=4, seed=seed
        )

    first, again, other = make(0), make(0), make(1)
    for index in (0, 3, 17):  # 17 lies in a later epoch
        assert torch.equal(first[index]["lq"], again[index]["lq"])
        assert torch.equal(first[index]["gt"], again[index]["gt"])
    assert not torch.equal(first[0]["lq"], other[0]["lq"])
    assert not torch.equal(first[0]["lq"], first[1]["lq"])


def test_train_patches_use_all_transforms(tmp_path: Path) -> None:
    """With an image the size of the patch, each patch is one dihedral transform of it."""
    values = np.arange(36 * 3, dtype=np.uint8).reshape(6, 6, 3)
    Image.fromarray(values).save(tmp_path / "u.png")
    image = read_image(tmp_path / "u.png")
    data = TrainPatches(
        ImageFolder(tmp_path), degradation=GaussianNoise(0.0), patch_size=6, samples_per_epoch=1
    )
    seen = set()
    for index in range(60):
        gt = data[index]["gt"]
        seen.update(k for k in range(8) if torch.equal(gt, dihedral_variant(image, k)))
    assert seen == set(range(8))


def test_training_sampler_advances_global_indices() -> None:
    sampler = ResumableSampler(3)
    assert list(sampler) == [0, 1, 2] and len(sampler) == 3
    sampler.set_epoch(2)
    assert list(sampler) == [6, 7, 8]


@pytest.mark.parametrize("scale", [2, 3])
def test_paired_sr_crops_are_aligned(tmp_path: Path, scale: int) -> None:
    gt = torch.from_numpy(_write(tmp_path / "gt" / "x.png", 12 * scale + 1, 10 * scale, seed=3))
    gt = gt.permute(2, 0, 1).float()[:, : 12 * scale]
    lq = F.avg_pool2d(gt[None], scale)[0].round()  # commutes with flips and rotations
    Image.fromarray(lq.permute(1, 2, 0).byte().numpy()).save(tmp_path / "x.png")
    (tmp_path / "lq").mkdir()
    (tmp_path / "x.png").rename(tmp_path / "lq" / "x.png")
    pairs = PairedFolders(tmp_path / "lq", tmp_path / "gt")
    data = TrainPatches(pairs, degradation=BicubicDown(scale), patch_size=4, samples_per_epoch=1)
    for index in range(6):
        item = data[index]
        assert item["gt"].shape == (3, 4 * scale, 4 * scale) and item["lq"].shape == (3, 4, 4)
        assert torch.equal(item["lq"], F.avg_pool2d(item["gt"][None], scale)[0].round())
    evaluated = EvalImages(pairs, degradation=BicubicDown(scale))[0]
    assert evaluated["gt"].shape == (3, 12 * scale, 10 * scale)  # extra GT row cropped
    assert torch.equal(evaluated["lq"], lq)


def test_paired_size_mismatch_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path / "lq" / "x.png", 10, 10)
    _write(tmp_path / "gt" / "x.png", 16, 20)
    pairs = PairedFolders(tmp_path / "lq", tmp_path / "gt")
    with pytest.raises(ValueError, match=r"paired images disagree: LQ .*x\.png.*scale is 2"):
        EvalImages(pairs, degradation=BicubicDown(2))[0]


def test_too_small_image_names_file_and_sizes(tmp_path: Path) -> None:
    _write(tmp_path / "tiny.png", 20, 30)
    data = TrainPatches(
        ImageFolder(tmp_path), degradation=BicubicDown(2), patch_size=12, samples_per_epoch=1
    )
    with pytest.raises(ValueError, match=r"tiny\.png is 20x30 pixels, smaller than .* 24x24"):
        data[0]


def test_grey_sources_rgb_for_training_grey_for_evaluation(tmp_path: Path) -> None:
    _write(tmp_path / "g.png", 16, 16, channels=1)
    source = ImageFolder(tmp_path)
    train = TrainPatches(source, degradation=GaussianNoise(5.0), patch_size=8, samples_per_epoch=1)
    gt = train[0]["gt"]
    assert gt.shape == (3, 8, 8) and torch.equal(gt[0], gt[2])
    item = EvalImages(source, degradation=GaussianNoise(5.0))[0]
    assert item["gt"].shape == (1, 16, 16) and item["lq"].shape == (1, 16, 16)


def test_y_colour_is_rounded_matlab_luma(tmp_path: Path) -> None:
    _write(tmp_path / "c.png", 16, 16, seed=4)
    _write(tmp_path / "g.png", 16, 16, channels=1, seed=5)
    source = ImageFolder(tmp_path)
    data = EvalImages(source, degradation=JPEG(20), colour="y")
    colour, grey = data[0], data[1]
    expected = torch.floor(rgb_to_y(read_image(tmp_path / "c.png").double()) + 0.5).float()
    assert torch.equal(colour["gt"], expected)
    assert colour["lq"].shape == (1, 16, 16) and torch.equal(grey["gt"], source.load(1))
    train = TrainPatches(
        source, degradation=JPEG(20), patch_size=8, samples_per_epoch=1, colour="y"
    )
    assert train[0]["gt"].shape == (1, 8, 8)


def test_eval_images_crop_to_scale_and_seed_from_name(folder: ImageFolder) -> None:
    sr = EvalImages(folder, degradation=BicubicDown(4))[1]
    assert sr["gt"].shape == (3, 44, 36) and sr["lq"].shape == (3, 11, 9)
    noise = GaussianNoise(30.0)
    item = EvalImages(folder, degradation=noise)[0]
    assert item["name"] == "a"
    assert torch.equal(item["lq"], noise(folder.load(0), eval_generator("a", noise)))
    assert torch.equal(item["lq"], EvalImages(folder, degradation=noise)[0]["lq"])
    cropped = EvalImages(folder, degradation=BicubicDown(3), crop_size=20)[0]
    assert cropped["gt"].shape == (3, 18, 18) and cropped["name"] == "a_r0c0"


def test_crop_grid_is_fixed_non_overlapping_and_at_most_2x2() -> None:
    assert crop_grid(40, 52, 20) == [
        ("_r0c0", (0, 3, 20, 20)),
        ("_r0c1", (0, 29, 20, 20)),
        ("_r1c0", (20, 3, 20, 20)),
        ("_r1c1", (20, 29, 20, 20)),
    ]
    assert crop_grid(30, 100, 32) == [("_r0c0", (0, 9, 30, 32)), ("_r0c1", (0, 59, 30, 32))]
    boxes = [box for _, box in crop_grid(300, 451, 64)]
    assert len(boxes) == 4  # capped at 2 x 2 although 4 x 7 crops would fit
    for i, (t1, l1, h1, w1) in enumerate(boxes):
        assert t1 + h1 <= 300 and l1 + w1 <= 451
        for t2, l2, h2, w2 in boxes[i + 1 :]:
            assert t1 + h1 <= t2 or t2 + h2 <= t1 or l1 + w1 <= l2 or l2 + w2 <= l1


def test_eval_crops_are_deterministic_and_named_by_grid_cell(folder: ImageFolder) -> None:
    noise = GaussianNoise(30.0)
    first = EvalImages(folder, degradation=noise, crop_size=20)
    again = EvalImages(folder, degradation=noise, crop_size=20)
    names = [first[i]["name"] for i in range(len(first))]
    # a is 40x52 (2 x 2 crops of 20), b is 45x37 (2 x 1: only one 20 px column fits)
    assert names == ["a_r0c0", "a_r0c1", "a_r1c0", "a_r1c1", "b_r0c0", "b_r1c0"]
    for i in range(len(first)):
        assert first[i]["name"] == again[i]["name"]
        assert torch.equal(first[i]["gt"], again[i]["gt"])
        assert torch.equal(first[i]["lq"], again[i]["lq"])
    top, left, h, w = crop_grid(45, 37, 20)[1][1]
    assert torch.equal(first[5]["gt"], folder.load(1)[:, top : top + h, left : left + w])
    assert not torch.equal(first[0]["lq"] - first[0]["gt"], first[1]["lq"] - first[1]["gt"])


def test_bad_dataset_arguments(folder: ImageFolder) -> None:
    with pytest.raises(ValueError, match="colour must be one of"):
        EvalImages(folder, degradation=GaussianNoise(1.0), colour="ycbcr")
    with pytest.raises(ValueError, match="must be positive"):
        TrainPatches(folder, degradation=GaussianNoise(1.0), patch_size=0)
