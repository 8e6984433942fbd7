"""MATLAB rgb2ycbcr luma."""

from __future__ import annotations

import pytest
import torch

from panet.imaging.color import rgb_to_y


def _solid(r: float, g: float, b: float) -> torch.Tensor:
    return torch.tensor([r, g, b], dtype=torch.float64).view(3, 1, 1).expand(3, 2, 2)


@pytest.mark.parametrize(
    ("rgb", "expected"),
    [
        ((0, 0, 0), 16.0),
        ((255, 255, 255), 235.0),
        ((255, 0, 0), 16.0 + 65.481),
        ((0, 255, 0), 16.0 + 128.553),
        ((0, 0, 255), 16.0 + 24.966),
    ],
)
def test_matlab_studio_range_values(rgb: tuple[int, int, int], expected: float) -> None:
    y = rgb_to_y(_solid(*rgb))
    assert y.shape == (1, 2, 2)
    assert torch.allclose(y, torch.full_like(y, expected), atol=1e-12)


def test_batched_and_not_rounded() -> None:
    img = torch.tensor([10.0, 20.0, 30.0]).view(1, 3, 1, 1).repeat(2, 1, 3, 4)
    y = rgb_to_y(img)
    assert y.shape == (2, 1, 3, 4) and y.dtype == torch.float32
    expected = 16 + (65.481 * 10 + 128.553 * 20 + 24.966 * 30) / 255
    assert torch.allclose(y, torch.full_like(y, expected))
    assert not torch.equal(y, y.round())


def test_integer_input_goes_float64() -> None:
    assert rgb_to_y(torch.zeros(3, 2, 2, dtype=torch.uint8)).dtype == torch.float64


@pytest.mark.parametrize("shape", [(1, 4, 4), (4, 4), (2, 4, 4, 4)])
def test_rejects_non_rgb(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="RGB"):
        rgb_to_y(torch.zeros(shape))
