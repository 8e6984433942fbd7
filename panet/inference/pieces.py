"""What every piece-by-piece runner (``chop``, ``tiles``) checks about its input and output.

A ``Forward`` is any callable mapping a batch ``[N, C, h, w]`` to ``[N, C_out, scale*h,
scale*w]`` (a network, or a closure around one) in whatever range and colour space it expects;
the runners never look at values.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

Forward = Callable[[Tensor], Tensor]


def check_batch(x: Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(f"expected an image batch shaped [B, C, H, W]; got {tuple(x.shape)}")
    if x.shape[-2] < 1 or x.shape[-1] < 1:
        raise ValueError(f"image batch has an empty spatial size {tuple(x.shape[-2:])}")


def check_output(y: Tensor, piece: Tensor, scale: int) -> None:
    expected = (piece.shape[0], scale * piece.shape[-2], scale * piece.shape[-1])
    got = (y.shape[0], y.shape[-2], y.shape[-1])
    if y.dim() != 4 or got != expected:
        raise ValueError(
            f"forward turned a piece of shape {tuple(piece.shape)} into {tuple(y.shape)}; with "
            f"scale={scale} it must return [N, C_out, {expected[1]}, {expected[2]}]: pass the "
            "network's own scale"
        )
