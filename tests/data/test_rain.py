"""Synthetic rain streaks: determinism, bounds, direction, and the degradation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data.degradations import Rain
from data.rain import composite_rain, rain_layer, streak_kernel_size
from data.seeding import eval_generator


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _photo(seed: int = 0) -> torch.Tensor:
    return torch.randint(20, 200, (3, 48, 40), generator=_gen(seed)).float()


def test_rain_is_deterministic_bounded_and_changes_the_image() -> None:
    rain = Rain()
    gt = _photo()
    lq = rain(gt, _gen(1))
    assert lq.shape == gt.shape and lq.dtype == gt.dtype
    assert torch.equal(lq, rain(gt, _gen(1)))
    assert not torch.equal(lq, rain(gt, _gen(2)))
    assert lq.min() >= 0 and lq.max() <= 255 and torch.equal(lq, lq.round())
    changed = (lq != gt).any(dim=0).float().mean().item()
    assert 0.01 < changed < 0.9
    # Additive rain only brightens, and equally on every channel (colourless) where no channel
    # clamps at 255 (here: pixels <= 200 and streaks <= 50).
    assert (lq >= gt).all()
    diff = Rain(brightness=50)(gt, _gen(1)) - gt
    assert diff.max() > 0
    assert torch.equal(diff[0], diff[1]) and torch.equal(diff[1], diff[2])


def test_rain_layer_is_in_unit_range_and_follows_its_angle() -> None:
    rng = np.random.default_rng(0)
    vertical = rain_layer(rng, 64, 64, density=0.01, length=15.0, angle=0.0)[0].numpy()
    assert vertical.min() >= 0 and vertical.max() <= 1 and vertical.max() > 0.4

    def correlation(layer: np.ndarray, axis: int) -> float:
        a = layer - layer.mean()
        shifted = np.roll(a, 1, axis=axis)
        return float((a * shifted).sum() / (a * a).sum())

    assert correlation(vertical, 0) > 0.8 > correlation(vertical, 1)
    sideways = rain_layer(np.random.default_rng(0), 64, 64, density=0.01, length=15.0, angle=90.0)
    assert correlation(sideways[0].numpy(), 1) > 0.8 > correlation(sideways[0].numpy(), 0)


def test_streaks_enter_from_outside_the_frame() -> None:
    # Drops are drawn beyond the border, so the first rows carry as much rain as the middle.
    rows = torch.zeros(64)
    for seed in range(20):
        layer = rain_layer(np.random.default_rng(seed), 64, 64, density=0.01, length=20, angle=0)
        rows += layer[0].mean(dim=1)
    assert rows[:4].mean() > 0.6 * rows[28:36].mean()


def test_no_drops_leaves_the_image_unchanged_and_kernel_sizes_are_odd() -> None:
    gt = _photo()
    assert torch.equal(Rain(density=0.0)(gt, _gen()), gt)
    assert all(streak_kernel_size(length) % 2 == 1 for length in (1, 2.5, 10, 11))
    assert streak_kernel_size(10) >= 13
    bright = composite_rain(torch.full((1, 2, 2), 250.0), torch.ones(1, 2, 2), 100.0)
    assert torch.equal(bright, torch.full((1, 2, 2), 255.0, dtype=torch.float64))


def test_rain_evaluation_seeding_and_describe() -> None:
    rain = Rain(density=0.005, length=10, angle=(-5, 5), brightness=150)
    gt = _photo()
    a = rain(gt, eval_generator("x", rain))
    assert torch.equal(a, rain(gt, eval_generator("x", rain)))
    assert not torch.equal(a, rain(gt, eval_generator("y", rain)))
    assert rain.describe() == {
        "name": "rain",
        "density": [0.005, 0.005],
        "length": [10.0, 10.0],
        "angle": [-5.0, 5.0],
        "brightness": [150.0, 150.0],
        "round": True,
    }


@pytest.mark.parametrize(
    "kwargs",
    [{"density": 1.5}, {"length": 0.5}, {"angle": (-100, 0)}, {"brightness": 300}],
)
def test_bad_rain_parameters(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="must satisfy"):
        Rain(**kwargs)
