"""Degradation contracts, determinism, bad inputs; evaluation seeding."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from data.degradations import JPEG, BayerMosaic, BicubicDown, GaussianNoise, crop_to_multiple
from data.seeding import eval_generator, eval_seed

ALL = (GaussianNoise(25.0), BayerMosaic(), JPEG(30), BicubicDown(2))


def _img(channels: int = 3, height: int = 12, width: int = 16, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (channels, height, width), generator=gen).float()


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("degradation", ALL, ids=lambda d: d.describe()["name"])
def test_shape_dtype_range_contract(degradation) -> None:
    gt = _img()
    lq = degradation(gt, _gen())
    s = degradation.scale
    assert lq.shape == (3, 12 // s, 16 // s) and lq.dtype == gt.dtype
    assert lq.min() >= 0 and lq.max() <= 255 and torch.equal(lq, lq.round())
    assert degradation.describe()["name"]


@pytest.mark.parametrize("degradation", ALL, ids=lambda d: d.describe()["name"])
def test_same_seed_same_output(degradation) -> None:
    gt = _img()
    assert torch.equal(degradation(gt, _gen(5)), degradation(gt, _gen(5)))


def test_noise_depends_on_seed_and_has_sigma() -> None:
    gt = torch.full((3, 64, 64), 128.0)
    noise = GaussianNoise(10.0, clip=False, round=False)
    a, b = noise(gt, _gen(1)), noise(gt, _gen(2))
    assert not torch.equal(a, b)
    assert (a - gt).std().item() == pytest.approx(10.0, rel=0.05)
    assert not torch.equal(a, a.round())
    assert torch.equal(GaussianNoise(0.0)(gt, _gen()), gt)


def test_noise_clips_and_rounds_by_default() -> None:
    lq = GaussianNoise(200.0)(torch.full((1, 16, 16), 250.0), _gen())
    assert lq.max() == 255 and lq.min() == 0 and torch.equal(lq, lq.round())


def test_grbg_layout() -> None:
    lq = BayerMosaic("GRBG")(torch.full((3, 4, 4), 9.0))
    g, r, b = lq[1], lq[0], lq[2]
    assert g[0, 0] == 9 and g[1, 1] == 9 and g[0, 1] == 0 and g[1, 0] == 0
    assert r[0, 1] == 9 and r.sum() == 9 * 4
    assert b[1, 0] == 9 and b.sum() == 9 * 4
    assert (lq > 0).sum(dim=0).eq(1).all(), "exactly one colour sampled per pixel"


@pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GBRG"])
def test_other_patterns(pattern: str) -> None:
    mask = BayerMosaic(pattern).mask(2, 2)
    for cell, colour in enumerate(pattern):
        assert mask["RGB".index(colour), cell // 2, cell % 2]


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_is_a_pillow_round_trip(channels: int) -> None:
    gt = _img(channels, 16, 24)
    lq = JPEG(20)(gt)
    array = gt.to(torch.uint8).numpy()
    array = array[0] if channels == 1 else array.transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=20)
    reference = np.asarray(Image.open(io.BytesIO(buffer.getvalue())))
    reference = reference[None] if channels == 1 else reference.transpose(2, 0, 1)
    assert torch.equal(lq, torch.from_numpy(reference.copy()).float())
    assert not torch.equal(lq, gt)


def test_bicubic_down_shapes_and_crop() -> None:
    gt = _img(1, 13, 10)
    cropped = crop_to_multiple(gt, 3)
    assert cropped.shape == (1, 12, 9)
    lq = BicubicDown(3)(cropped)
    assert lq.shape == (1, 4, 3) and BicubicDown(3).scale == 3
    assert torch.equal(BicubicDown(2)(torch.full((3, 8, 8), 50.0)), torch.full((3, 4, 4), 50.0))


@pytest.mark.parametrize(
    ("factory", "error"),
    [
        (lambda: GaussianNoise(-1.0), ValueError),
        (lambda: GaussianNoise("30"), TypeError),
        (lambda: BayerMosaic("RGBG"), ValueError),
        (lambda: JPEG(0), ValueError),
        (lambda: JPEG(101), ValueError),
        (lambda: JPEG(10.5), TypeError),
        (lambda: BicubicDown(0), ValueError),
        (lambda: BicubicDown(2.0), TypeError),
    ],
)
def test_bad_parameters(factory, error: type[Exception]) -> None:
    with pytest.raises(error):
        factory()


@pytest.mark.parametrize("degradation", ALL, ids=lambda d: d.describe()["name"])
def test_bad_images(degradation) -> None:
    with pytest.raises(TypeError, match="floating-point"):
        degradation(_img().to(torch.uint8), _gen())
    with pytest.raises(ValueError, match=r"\[C,H,W\]"):
        degradation(_img()[None], _gen())
    with pytest.raises(ValueError, match=r"\[C,H,W\]"):
        degradation(torch.zeros(2, 8, 8), _gen())


def test_specific_bad_images() -> None:
    with pytest.raises(ValueError, match="RGB"):
        BayerMosaic()(_img(1), _gen())
    with pytest.raises(ValueError, match="smaller than the scale"):
        BicubicDown(4)(_img(3, 3, 8), _gen())
    with pytest.raises(ValueError, match="crop_to_multiple"):
        BicubicDown(3)(_img(3, 10, 9), _gen())
    with pytest.raises(TypeError, match="Generator"):
        GaussianNoise(10.0)(_img(), None)


def test_eval_generator_is_a_stable_function_of_name_and_parameters() -> None:
    noise = GaussianNoise(30)
    assert eval_seed("kodim01", noise) == eval_seed("kodim01", GaussianNoise(30.0))
    assert eval_seed("kodim01", noise) != eval_seed("kodim02", noise)
    assert eval_seed("kodim01", noise) != eval_seed("kodim01", GaussianNoise(50.0))
    # A fixed value: changing the seeding scheme changes every published evaluation input.
    assert eval_seed("kodim01", noise) == EXPECTED_KODIM01_SIGMA30
    gt = _img()
    assert torch.equal(
        noise(gt, eval_generator("kodim01", noise)), noise(gt, eval_generator("kodim01", noise))
    )
    with pytest.raises(ValueError, match="name"):
        eval_generator("", noise)
    with pytest.raises(TypeError, match="describe"):
        eval_generator("kodim01", object())


EXPECTED_KODIM01_SIGMA30 = 6883368311938491014


class _NoisyImages(Dataset):
    def __init__(self) -> None:
        self.noise = GaussianNoise(30.0)

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> torch.Tensor:
        name = f"img{index}"
        return self.noise(_img(seed=index), eval_generator(name, self.noise))


def test_same_inputs_for_any_worker_count() -> None:
    single = torch.cat(list(DataLoader(_NoisyImages(), batch_size=1, num_workers=0)))
    multi = torch.cat(list(DataLoader(_NoisyImages(), batch_size=1, num_workers=2)))
    assert torch.equal(single, multi)
