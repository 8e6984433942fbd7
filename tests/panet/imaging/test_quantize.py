"""The one uint8 rule: MATLAB's round half away from zero, then saturation."""

from __future__ import annotations

import torch

from panet.imaging.quantize import quantize_uint8, round_half_away


def test_halves_round_away_from_zero_unlike_torch_round() -> None:
    x = torch.tensor([0.5, 1.5, 2.5, 254.5, -0.5, -2.5])
    assert round_half_away(x).tolist() == [1.0, 2.0, 3.0, 255.0, -1.0, -3.0]
    assert torch.round(x).tolist() == [0.0, 2.0, 2.0, 254.0, -0.0, -2.0]  # to even: differs


def test_just_below_a_half_is_not_pushed_up() -> None:
    below = torch.tensor([0.49999999999999994, 7.499999999999999], dtype=torch.float64)
    assert round_half_away(below).tolist() == [0.0, 7.0]
    assert torch.floor(below + 0.5).tolist() == [1.0, 7.0]  # the naive formula errs at 0.49...


def test_quantize_saturates_and_returns_float64() -> None:
    out = quantize_uint8(torch.tensor([-3.2, 12.49, 12.5, 255.4, 300.0], dtype=torch.float32))
    assert out.dtype == torch.float64
    assert out.tolist() == [0.0, 12.0, 13.0, 255.0, 255.0]
