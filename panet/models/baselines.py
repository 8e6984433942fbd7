"""Baselines that score the degraded input itself through the normal evaluation path.

``Identity`` returns its input (the "Noisy", "Mosaiced", "JPEG" rows); ``Bicubic`` upscales
the LR input with MATLAB's bicubic ``imresize`` on uint8 (the "Bicubic" SR rows). Both follow
the network conventions: ``pixel_range`` 255 (inputs and outputs on the 0–255 scale),
``scale``, class attribute ``arch`` and ``arch_args`` for ``build_network``.
"""

from __future__ import annotations

from torch import Tensor, nn

from panet.imaging.resize import imresize_uint8


class Identity(nn.Module):
    """``[B, C, H, W]`` 0–255 -> the same tensor (the degraded input as the "restoration")."""

    arch = "identity"
    pixel_range = 255.0
    scale = 1

    def __init__(self) -> None:
        super().__init__()
        self.arch_args: dict[str, object] = {}

    def forward(self, x: Tensor) -> Tensor:
        return x


class Bicubic(nn.Module):
    """MATLAB bicubic upscaling by ``scale`` of an LR batch, rounded like MATLAB on uint8.

    Input ``[B, C, h, w]`` (or ``[C, h, w]``) float, 0–255, any number of channels (grey
    images are upscaled on their single channel); output ``[..., scale*h, scale*w]``,
    integer-valued 0–255, same dtype.
    """

    arch = "bicubic"
    pixel_range = 255.0

    def __init__(self, scale: int = 2) -> None:
        super().__init__()
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise ValueError(f"Bicubic scale must be an integer >= 1; got {scale!r}")
        self.scale = scale
        self.arch_args: dict[str, object] = {"scale": scale}

    def forward(self, x: Tensor) -> Tensor:
        return imresize_uint8(x, float(self.scale))
