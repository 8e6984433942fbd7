"""EDSR (Lim et al., 2017) and PA-EDSR (EDSR with pyramid attention, Mei et al., 2020) for
single-image super-resolution. Pixels in 0–255 (the authors' ``rgb_range`` 255)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from panet.attention.pyramid import attention_setup
from panet.models.blocks import MeanShift, ResBlock, Upsampler, same_conv
from panet.models.positions import insert_attention, validate_positions


class EDSR(nn.Module):
    """MeanShift -> head conv -> ReLU residual blocks (+ optional pyramid attention) -> conv,
    global skip -> upsampler -> conv -> MeanShift back.

    Args:
        scale: upscaling factor (2, 3 or 4; any power of 2 works).
        n_colors: must be 3 (the mean shift is the DIV2K RGB mean).
        n_feats, n_resblocks, res_scale: 256/32/0.1 = the paper's EDSR; 64/16/1.0 = the
            "baseline" EDSR.
        positions: attention positions, subset of ``("pre", "mid", "post")``; ``()`` = EDSR.
        levels, scales, patch_size, softmax_scale, reduction, hard, attention_impl: the
            attention's options (see ``PyramidAttention``); the attention's residual weight is
            ``res_scale``, as in the authors' PA-EDSR.

    Forward: ``[B, 3, h, w]`` float RGB in 0–255 -> ``[B, 3, h*scale, w*scale]`` in 0–255
    (not clamped).
    """

    arch = "edsr"
    pixel_range = 255.0
    default_positions: tuple[str, ...] = ()

    def __init__(
        self,
        scale: int = 2,
        n_colors: int = 3,
        n_feats: int = 256,
        n_resblocks: int = 32,
        res_scale: float = 0.1,
        positions: Sequence[str] | None = None,
        levels: int = 5,
        scales: Sequence[float] | None = None,
        patch_size: int = 3,
        softmax_scale: float = 10.0,
        reduction: int = 8,
        hard: bool = False,
        attention_impl: str = "auto",
    ) -> None:
        super().__init__()
        if n_colors != 3:
            raise ValueError(
                f"{type(self).__name__} works on RGB images (n_colors=3), got n_colors={n_colors}"
            )
        if n_feats < 1 or n_resblocks < 1:
            raise ValueError(
                f"n_feats and n_resblocks must be positive, got {n_feats}, {n_resblocks}"
            )
        positions = validate_positions(self.default_positions if positions is None else positions)
        self.scale = int(scale)
        attention_args, make_attention = attention_setup(
            n_feats,
            res_scale,
            levels=levels,
            scales=scales,
            patch_size=patch_size,
            softmax_scale=softmax_scale,
            reduction=reduction,
            hard=hard,
            attention_impl=attention_impl,
        )
        self.arch_args: dict[str, Any] = {
            "scale": self.scale,
            "n_colors": n_colors,
            "n_feats": n_feats,
            "n_resblocks": n_resblocks,
            "res_scale": float(res_scale),
            "positions": positions,
            **attention_args,
        }

        relu = nn.ReLU(inplace=True)
        blocks = [ResBlock(n_feats, relu, res_scale) for _ in range(n_resblocks)]
        self.sub_mean = MeanShift(self.pixel_range, sign=-1)
        self.head = nn.Sequential(same_conv(n_colors, n_feats, 3))
        self.body = nn.Sequential(
            *insert_attention(blocks, positions, make_attention), same_conv(n_feats, n_feats, 3)
        )
        self.tail = nn.Sequential(Upsampler(self.scale, n_feats), same_conv(n_feats, n_colors, 3))
        self.add_mean = MeanShift(self.pixel_range, sign=1)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, 3, h, w]`` RGB 0–255 -> ``[B, 3, h*scale, w*scale]`` RGB 0–255."""
        features = self.head(self.sub_mean(x))
        return self.add_mean(self.tail(self.body(features) + features))


class PAEDSR(EDSR):
    """PA-EDSR: EDSR with pyramid attention after block R/2 (channels 256, reduction 8)."""

    arch = "pa_edsr"
    default_positions = ("mid",)
