"""PANet (Mei et al., 2020): a residual network with pyramid attention, for denoising,
demosaicing and JPEG artifact reduction. Pixels in [0, 1] (the authors' ``rgb_range`` 1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from panet.attention.pyramid import attention_setup
from panet.models.blocks import ResBlock, same_conv
from panet.models.positions import insert_attention, validate_positions


class PANet(nn.Module):
    """head conv -> residual blocks with pyramid attention -> conv, global skip -> tail conv.

    Args:
        n_colors: image channels: 3 (RGB denoising/demosaicing) or 1 (Y channel, CAR).
        n_feats: feature channels.
        n_resblocks: residual blocks ``R`` (80 = PANet, 8 = PANet-S).
        positions: where attention sits, any subset of ``("pre", "mid", "post")``: after block
            1, after block R/2 (the paper), after block R. Empty = the plain ResNet baseline.
        levels, scales, patch_size, softmax_scale, reduction, hard: the attention's options
            (see ``PyramidAttention``); ``levels=1, patch_size=1`` is the classic non-local
            block.
        attention_impl: attention implementation name (``"auto"``, ``"fast"``, ``"faithful"``, ...).

    Forward: ``[B, n_colors, H, W]`` float in [0, 1] -> same shape and range (not clamped).
    All residual blocks share one PReLU, as in the authors' model (their blocks fall back to a
    shared default activation), which gives 5,957,255 trainable parameters at R = 80.
    """

    arch = "panet"
    pixel_range = 1.0
    scale = 1

    def __init__(
        self,
        n_colors: int = 3,
        n_feats: int = 64,
        n_resblocks: int = 80,
        positions: Sequence[str] = ("mid",),
        levels: int = 5,
        scales: Sequence[float] | None = None,
        patch_size: int = 3,
        softmax_scale: float = 10.0,
        reduction: int = 2,
        hard: bool = False,
        attention_impl: str = "auto",
    ) -> None:
        super().__init__()
        if n_colors < 1 or n_feats < 1 or n_resblocks < 1:
            raise ValueError(
                "n_colors, n_feats and n_resblocks must be positive, got "
                f"{n_colors}, {n_feats}, {n_resblocks}"
            )
        positions = validate_positions(positions)
        attention_args, make_attention = attention_setup(
            n_feats,
            1.0,
            levels=levels,
            scales=scales,
            patch_size=patch_size,
            softmax_scale=softmax_scale,
            reduction=reduction,
            hard=hard,
            attention_impl=attention_impl,
        )
        self.arch_args: dict[str, Any] = {
            "n_colors": n_colors,
            "n_feats": n_feats,
            "n_resblocks": n_resblocks,
            "positions": positions,
            **attention_args,
        }

        shared_prelu = nn.PReLU()
        blocks = [ResBlock(n_feats, shared_prelu) for _ in range(n_resblocks)]
        self.head = nn.Sequential(same_conv(n_colors, n_feats, 3))
        self.body = nn.Sequential(
            *insert_attention(blocks, positions, make_attention), same_conv(n_feats, n_feats, 3)
        )
        self.tail = nn.Sequential(same_conv(n_feats, n_colors, 3))

    def forward(self, x: Tensor) -> Tensor:
        """``[B, n_colors, H, W]`` in [0, 1] -> restored image, same shape and range."""
        features = self.head(x)
        return self.tail(self.body(features) + features)
