"""A batched tiler for user images: fixed-size overlapping tiles, cross-faded so that no seams
appear (the practical alternative to the authors' chop; not their evaluation procedure).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from panet.inference.pieces import Forward, check_batch, check_output


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of extent ``min(tile, length)`` covering ``[0, length)``.

    Tiles step by ``tile - overlap``; the last one is aligned to the end (overlapping its
    neighbour by at least ``overlap``). An axis no longer than ``tile`` is a single tile.
    """
    if length <= tile:
        return [0]
    stride = tile - overlap
    return [*range(0, length - tile, stride), length - tile]


def tile_weight_1d(
    extent: int,
    *,
    has_prev: bool,
    has_next: bool,
    overlap: int,
    scale: int = 1,
    device: torch.device | str | None = None,
) -> Tensor:
    """Blending weight along one axis of an output tile of ``scale * extent`` pixels (float64).

    On a side that borders another tile, the first ``overlap // 4`` input pixels get weight 0
    (they see the zero padding at the cut, so they are never used) and the next
    ``overlap - 2 * (overlap // 4)`` pixels ramp linearly up to 1 (the cross-fade). Sides on the
    image border keep weight 1. Consequently a local network whose receptive-field radius is at
    most ``overlap // 4`` gives exactly the whole-image result.
    """
    margin = (overlap // 4) * scale
    ramp = (overlap - 2 * (overlap // 4)) * scale
    n = scale * extent
    f64 = {"dtype": torch.float64, "device": device}
    w = torch.ones(n, **f64)
    rising = torch.cat(
        [torch.zeros(margin, **f64), torch.arange(1, ramp + 1, **f64) / (ramp + 1.0)]
    )
    if has_prev:
        w[: len(rising)] *= rising[:n]
    if has_next:
        w[n - len(rising) :] *= rising.flip(0)[max(len(rising) - n, 0) :]
    return w


def tiles(
    forward: Forward,
    x: Tensor,
    *,
    scale: int = 1,
    tile: int = 128,
    overlap: int = 16,
    batch_size: int = 4,
) -> Tensor:
    """Run ``forward`` on overlapping ``tile × tile`` tiles, ``batch_size`` tiles per call.

    Tiles overlapping by at least ``overlap`` input pixels cover the image (images smaller than
    a tile are one tile of their own size); outputs are blended with the weights of
    :func:`tile_weight_1d` (outer product per tile), normalized by the summed weights. Tiles are
    accumulated in a fixed order, so the result does not depend on ``batch_size`` (for a network
    whose per-sample output does not depend on the batch).

    Args:
        forward: network or closure, ``[N, C, h, w] -> [N, C_out, scale*h, scale*w]``.
        x: ``[B, C, H, W]`` batch in ``forward``'s input range.
        scale: the network's upscaling factor.
        tile: tile side in input pixels.
        overlap: minimum overlap of neighbouring tiles in input pixels, ``0 <= overlap < tile``.
        batch_size: tiles per ``forward`` call (each tile carries all ``B`` images).

    Returns:
        ``[B, C_out, scale*H, scale*W]`` in ``forward``'s output range and dtype.
    """
    check_batch(x)
    if scale < 1 or tile < 1 or batch_size < 1 or not 0 <= overlap < tile:
        raise ValueError(
            "tiles needs scale >= 1, tile >= 1, batch_size >= 1 and 0 <= overlap < tile; got "
            f"scale={scale}, tile={tile}, overlap={overlap}, batch_size={batch_size}"
        )
    b, _, h, w = x.shape
    th, tw = min(tile, h), min(tile, w)
    row_starts, col_starts = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    positions = [(top, left) for top in row_starts for left in col_starts]

    out: Tensor | None = None
    # At most 9 distinct weights (interior, edges, corners): built once, on x's device.
    weights: dict[tuple[bool, bool, bool, bool], Tensor] = {}
    weight_sum = torch.zeros(scale * h, scale * w, dtype=torch.float64, device=x.device)
    for first in range(0, len(positions), batch_size):
        group = positions[first : first + batch_size]
        batch = torch.cat([x[:, :, t : t + th, c : c + tw] for t, c in group], dim=0)
        y = forward(batch.contiguous())
        check_output(y, batch, scale)
        if out is None:
            out = torch.zeros(
                b, y.shape[1], scale * h, scale * w, dtype=torch.float64, device=x.device
            )
        for k, (top, left) in enumerate(group):
            sides = (top > 0, top + th < h, left > 0, left + tw < w)
            if sides not in weights:
                weights[sides] = _tile_weight(sides, (th, tw), overlap, scale, x.device)
            weight = weights[sides]
            rows = slice(scale * top, scale * (top + th))
            cols = slice(scale * left, scale * (left + tw))
            out[:, :, rows, cols] += y[k * b : (k + 1) * b].double() * weight
            weight_sum[rows, cols] += weight
    assert out is not None  # at least one tile always exists
    return (out / weight_sum).to(y.dtype)


def _tile_weight(
    sides: tuple[bool, bool, bool, bool],
    tile_hw: Sequence[int],
    overlap: int,
    scale: int,
    device: torch.device,
) -> Tensor:
    """The 2-D weight of a tile with neighbours above, below, left, right as in ``sides``."""
    (th, tw), (up, down, before, after) = tile_hw, sides
    common = {"overlap": overlap, "scale": scale, "device": device}
    wy = tile_weight_1d(th, has_prev=up, has_next=down, **common)
    wx = tile_weight_1d(tw, has_prev=before, has_next=after, **common)
    return wy[:, None] * wx[None, :]
