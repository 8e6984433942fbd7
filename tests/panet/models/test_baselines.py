"""Identity and Bicubic baselines behave like networks."""

from __future__ import annotations

import pytest
import torch

from panet.imaging.resize import imresize_uint8
from panet.models.baselines import Bicubic, Identity


def test_identity_returns_input_and_has_network_attributes() -> None:
    net = Identity()
    x = torch.rand(2, 3, 5, 6) * 255
    assert torch.equal(net(x), x)
    assert (net.arch, net.pixel_range, net.scale, net.arch_args) == ("identity", 255.0, 1, {})


@pytest.mark.parametrize("channels", [1, 3])
def test_bicubic_upscales_uint8_like_matlab(channels: int) -> None:
    net = Bicubic(3)
    assert (net.arch, net.pixel_range, net.scale, net.arch_args) == (
        "bicubic",
        255.0,
        3,
        {"scale": 3},
    )
    gen = torch.Generator().manual_seed(0)
    lr = torch.randint(0, 256, (2, channels, 6, 5), generator=gen).float()
    out = net(lr)
    assert out.shape == (2, channels, 18, 15) and out.dtype == torch.float32
    assert torch.equal(out, out.round()) and out.min() >= 0 and out.max() <= 255
    assert torch.equal(out[1], imresize_uint8(lr[1], 3.0))


def test_bicubic_keeps_constant_images() -> None:
    out = Bicubic(2)(torch.full((1, 1, 4, 4), 9.0))
    assert torch.equal(out, torch.full((1, 1, 8, 8), 9.0))


@pytest.mark.parametrize("scale", [0, -2, 1.5, True])
def test_bicubic_rejects_bad_scale(scale: object) -> None:
    with pytest.raises(ValueError, match="scale"):
        Bicubic(scale)  # type: ignore[arg-type]
