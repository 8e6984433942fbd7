"""Building blocks shared by PANet and (PA-)EDSR, laid out so that state-dict keys match the
authors' checkpoints (Mei et al., 2020, which vendors the EDSR-PyTorch blocks)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: DIV2K RGB mean on the [0, 1] scale, used by the authors' MeanShift layers.
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def same_conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Conv2d:
    """A stride-1 convolution with bias and zero 'same' padding (odd ``kernel_size``)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)


class ResBlock(nn.Module):
    """conv 3x3 -> activation -> conv 3x3, scaled by ``res_scale``, plus the input (no BN).

    ``activation`` may be shared between blocks on purpose: the authors' PANet passes its PReLU
    where the bias flag is expected, so every block falls back to one shared default PReLU
    (one trainable slope for the whole network; 5,957,255 parameters at R = 80).
    Keys: ``body.0`` conv, ``body.1`` activation, ``body.2`` conv.
    """

    def __init__(
        self, n_feats: int, activation: nn.Module, res_scale: float = 1.0, kernel_size: int = 3
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(
            same_conv(n_feats, n_feats, kernel_size),
            activation,
            same_conv(n_feats, n_feats, kernel_size),
        )
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        """``[B, n_feats, H, W]`` -> same shape."""
        return self.body(x) * self.res_scale + x


class MeanShift(nn.Module):
    """Adds ``sign * pixel_range * mean`` per channel: a fixed 1x1 convolution stored as the
    buffers ``weight`` ``[C, C, 1, 1]`` (identity) and ``bias`` ``[C]`` so its keys match the
    authors' frozen ``MeanShift`` convolution; nothing here is trainable.
    """

    def __init__(
        self, pixel_range: float, mean: tuple[float, ...] = DIV2K_RGB_MEAN, sign: int = -1
    ) -> None:
        super().__init__()
        channels = len(mean)
        self.register_buffer("weight", torch.eye(channels).view(channels, channels, 1, 1))
        self.register_buffer("bias", sign * pixel_range * torch.tensor(mean, dtype=torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` in the network's pixel range -> same shape, shifted."""
        return F.conv2d(x, self.weight, self.bias)


class Upsampler(nn.Sequential):
    """Sub-pixel upsampler: (conv 3x3 to 4·C, PixelShuffle(2)) per factor 2, or one conv to 9·C
    and PixelShuffle(3) for x3. Keys ``0``, ``2``, ... are the convs, as in EDSR."""

    def __init__(self, scale: int, n_feats: int) -> None:
        layers: list[nn.Module] = []
        if scale >= 2 and scale & (scale - 1) == 0:
            for _ in range(int(math.log2(scale))):
                layers += [same_conv(n_feats, 4 * n_feats, 3), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [same_conv(n_feats, 9 * n_feats, 3), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"upsampling scale must be 2, 3 or a power of 2, got {scale}")
        super().__init__(*layers)
