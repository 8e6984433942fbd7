"""CSNLN (Mei et al., "Image Super-Resolution with Cross-Scale Non-Local Attention and
Exhaustive Self-Exemplars Mining", CVPR 2020). Pixels in [0, 1] (the authors' ``rgb_range`` 1).

One Self-Exemplars-Mining (SEM) cell is applied ``depth`` times with *shared* weights; each
application returns the next LR features and an HR estimate, and the concatenated HR estimates
go through a 3x3 conv to the image. Module names equal the authors' state-dict keys.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from panet.attention.cross_scale import CrossScaleAttention, InScaleAttention
from panet.models.blocks import DIV2K_RGB_MEAN, ResBlock, same_conv

#: (kernel, stride, padding) of the SEM cell's strided (de)convolutions per up-factor.
SAMPLING_GEOMETRY: dict[int, tuple[int, int, int]] = {2: (6, 2, 2), 3: (9, 3, 3)}
#: The x4 cell's extra x4 (de)convolutions.
X4_GEOMETRY = (8, 4, 2)
SCALES = (2, 3, 4)


def up_factor(scale: int) -> int:
    """Up-factor of the cross-scale attention and of one projection: 3 for x3, else 2."""
    if scale not in SCALES:
        raise ValueError(f"CSNLN upscales by 2, 3 or 4, got scale={scale}")
    return 3 if scale == 3 else 2


class FrozenMeanShift(nn.Conv2d):
    """Adds ``sign * pixel_range * mean``: the authors' 1x1 conv whose weight and bias are
    parameters with ``requires_grad=False`` (so they count in ``parameters()``, as the
    authors count, and never train). Keys ``weight`` [3, 3, 1, 1], ``bias`` [3]."""

    def __init__(self, pixel_range: float, sign: int) -> None:
        super().__init__(3, 3, kernel_size=1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.bias.copy_(sign * pixel_range * torch.tensor(DIV2K_RGB_MEAN))
        for parameter in self.parameters():
            parameter.requires_grad_(False)


def conv_prelu(
    in_channels: int, out_channels: int, kernel: int, stride: int, pad: int
) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, stride, pad), nn.PReLU())


def deconv_prelu(channels: int, kernel: int, stride: int, pad: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(channels, channels, kernel, stride, pad), nn.PReLU())


class MultiSourceProjection(nn.Module):
    """``A = up(in-scale NL(x))``, ``B = CS-NL(x)``; returns ``A + ResBlock(B - A)`` at ``u``
    times the input size (keys ``up_attention``, ``down_attention``, ``upsample``,
    ``encoder``)."""

    def __init__(self, channels: int, factor: int, reduction: int, softmax_scale: float, impl: str):
        super().__init__()
        self.up_attention = CrossScaleAttention(
            channels, factor, reduction=reduction, softmax_scale=softmax_scale, impl=impl
        )
        self.down_attention = InScaleAttention(channels, reduction)
        self.upsample = deconv_prelu(channels, *SAMPLING_GEOMETRY[factor])
        self.encoder = ResBlock(channels, nn.PReLU())

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` -> ``[B, C, uH, uW]``."""
        in_scale = self.upsample(self.down_attention(x))
        cross_scale = self.up_attention(x)
        return in_scale + self.encoder(cross_scale - in_scale)


class SEMCell(nn.Module):
    """Projection plus back-projection; ``x -> (next LR features, HR estimate)``.

    x2/x3: ``h = P(x) + E(x - D1(P(x)))``, next ``x = post(D2(h))``. x4: a second projection
    with its own weights on ``h`` (2x), back-projected from the LR input with x4 (de)convs.
    """

    def __init__(self, channels: int, scale: int, reduction: int, softmax_scale: float, impl: str):
        super().__init__()
        self.scale = scale
        factor = up_factor(scale)
        geometry = SAMPLING_GEOMETRY[factor]
        self.multi_source_projection = MultiSourceProjection(
            channels, factor, reduction, softmax_scale, impl
        )
        self.down_sample_1 = conv_prelu(channels, channels, *geometry)
        if scale != 4:
            self.down_sample_2 = conv_prelu(channels, channels, *geometry)
        self.error_encode = deconv_prelu(channels, *geometry)
        self.post_conv = nn.Sequential(same_conv(channels, channels, 3), nn.PReLU())
        if scale == 4:
            self.multi_source_projection_2 = MultiSourceProjection(
                channels, factor, reduction, softmax_scale, impl
            )
            self.down_sample_3 = conv_prelu(channels, channels, *X4_GEOMETRY)
            self.down_sample_4 = conv_prelu(channels, channels, *X4_GEOMETRY)
            self.error_encode_2 = deconv_prelu(channels, *X4_GEOMETRY)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``[B, C, H, W]`` -> (``[B, C, H, W]``, ``[B, C, sH, sW]``)."""
        up = self.multi_source_projection(x)
        hr = up + self.error_encode(x - self.down_sample_1(up))
        if self.scale == 4:
            up = self.multi_source_projection_2(hr)
            hr = up + self.error_encode_2(x - self.down_sample_3(up))
            return self.post_conv(self.down_sample_4(hr)), hr
        return self.post_conv(self.down_sample_2(hr)), hr


class CSNLN(nn.Module):
    """MeanShift -> 2 x (conv 3x3 + PReLU) -> SEM cell x ``depth`` (shared weights) ->
    concatenated HR estimates -> conv 3x3 -> MeanShift back.

    Args:
        scale: 2, 3 or 4.
        n_colors: must be 3 (the mean shift is the DIV2K RGB mean).
        n_feats: feature channels (128 in the paper).
        depth: SEM applications (12 in the paper).
        reduction: query/key reduction of both attentions (2).
        softmax_scale: cross-scale matching temperature (10).
        attention_impl: cross-scale attention implementation: ``"auto"`` (default), ``"fast"``,
            ``"faithful"`` or another box-sum pyramid implementation name.

    The last application's next-LR features are computed and dropped, as in the authors' code;
    at ``depth=1`` the layers producing them (``SEM.down_sample_2``/``_4``, ``SEM.post_conv``)
    therefore get no gradient (``trains_every_parameter`` is False), which DDP refuses unless
    it looks for unused parameters; ``panet.cli.trainer_setup`` turns that on for such a
    network (any depth >= 2 trains them all).

    Forward: ``[B, 3, h, w]`` RGB in [0, 1], ``h`` and ``w`` multiples of ``input_multiple``
    (the up-factor) -> ``[B, 3, scale*h, scale*w]`` (not clamped). 3,061,289 / 6,010,409 /
    6,568,627 parameters at x2/x3/x4 (frozen MeanShift included, as the authors count).
    """

    arch = "csnln"
    pixel_range = 1.0

    @staticmethod
    def input_multiple_for(scale: int = 2, **_arch_args: Any) -> int:
        """``input_multiple`` of the network these arguments build (for config checks)."""
        return up_factor(int(scale))

    def __init__(
        self,
        scale: int = 2,
        n_colors: int = 3,
        n_feats: int = 128,
        depth: int = 12,
        reduction: int = 2,
        softmax_scale: float = 10.0,
        attention_impl: str = "auto",
    ) -> None:
        super().__init__()
        if n_colors != 3:
            raise ValueError(f"CSNLN works on RGB images (n_colors=3), got n_colors={n_colors}")
        if n_feats < 1 or depth < 1:
            raise ValueError(f"n_feats and depth must be positive, got {n_feats}, {depth}")
        self.scale = int(scale)
        self.input_multiple = self.input_multiple_for(self.scale)
        self.depth = int(depth)
        self.arch_args: dict[str, Any] = {
            "scale": self.scale,
            "n_colors": n_colors,
            "n_feats": n_feats,
            "depth": self.depth,
            "reduction": reduction,
            "softmax_scale": float(softmax_scale),
            "attention_impl": attention_impl,
        }
        self.sub_mean = FrozenMeanShift(self.pixel_range, sign=-1)
        self.head = nn.Sequential(
            nn.Sequential(same_conv(n_colors, n_feats, 3), nn.PReLU()),
            nn.Sequential(same_conv(n_feats, n_feats, 3), nn.PReLU()),
        )
        self.SEM = SEMCell(n_feats, self.scale, reduction, float(softmax_scale), attention_impl)
        self.tail = nn.Sequential(same_conv(n_feats * self.depth, n_colors, 3))
        self.add_mean = FrozenMeanShift(self.pixel_range, sign=1)

    @property
    def trains_every_parameter(self) -> bool:
        """Whether every trainable parameter gets a gradient from a training step."""
        return self.depth > 1

    def forward(self, x: Tensor) -> Tensor:
        """``[B, 3, h, w]`` RGB in [0, 1] -> ``[B, 3, scale*h, scale*w]``."""
        features = self.head(self.sub_mean(x))
        estimates = []
        for _ in range(self.depth):
            features, hr = self.SEM(features)
            estimates.append(hr)
        return self.add_mean(self.tail(torch.cat(estimates, dim=1)))
