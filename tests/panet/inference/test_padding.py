"""Padding to a network's input multiple and taking the first of several outputs."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from panet.inference import Inference, restore
from panet.inference.padding import final_output, network_forward, pad_to_multiple


class _MultipleOnly(nn.Module):
    """Doubles its input and returns ``[final, stage]``; refuses sizes that are not multiples."""

    pixel_range = 255.0

    def __init__(self, multiple: int, scale: int = 1) -> None:
        super().__init__()
        self.input_multiple = multiple
        self.scale = scale
        self.weight = nn.Parameter(torch.ones(()))

    def forward(self, x: Tensor) -> list[Tensor]:
        h, w = x.shape[-2:]
        assert h % self.input_multiple == 0 and w % self.input_multiple == 0, (h, w)
        y = torch.nn.functional.interpolate(x, scale_factor=self.scale, mode="nearest")
        return [2 * self.weight * y, y]


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (8, 8), (13, 30)])
def test_pad_to_multiple_reaches_the_multiple_and_keeps_the_image(size: tuple[int, int]) -> None:
    x = torch.rand(2, 3, *size)
    padded = pad_to_multiple(x, 8)
    assert padded.shape[-2] % 8 == 0 and padded.shape[-1] % 8 == 0
    assert torch.equal(padded[..., : size[0], : size[1]], x)


@pytest.mark.parametrize("scale", [1, 3])
@pytest.mark.parametrize("mode", ["full", "chop", "tiles"])
def test_odd_sizes_round_trip_through_every_mode(scale: int, mode: str) -> None:
    net = _MultipleOnly(8, scale)
    lq = torch.rand(1, 3, 37, 29) * 255
    inference = Inference(mode=mode, min_size=200, shave=3, tile=20, overlap=4)  # type: ignore[arg-type]
    out = restore(net, lq, inference)
    expected = 2 * torch.nn.functional.interpolate(lq, scale_factor=scale, mode="nearest")
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected)


def test_first_output_is_the_restored_image() -> None:
    a, b = torch.zeros(1), torch.ones(1)
    assert final_output([a, b]) is a and final_output(a) is a
    with pytest.raises(ValueError, match="empty list"):
        final_output([])


def test_bad_input_multiple_is_named() -> None:
    net = _MultipleOnly(8)
    net.input_multiple = 0
    with pytest.raises(ValueError, match="input_multiple must be >= 1"):
        network_forward(net)
