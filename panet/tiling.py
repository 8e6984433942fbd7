"""Running a network on an image piece by piece: the authors' "chop" and a batched tiler.

Both functions take ``forward``, any callable mapping a batch ``[N, C, h, w]`` to
``[N, C_out, scale*h, scale*w]`` (a network, or a closure around one), and an input batch
``[B, C, H, W]`` in whatever range and colour space ``forward`` expects (tiling never looks at
values). They return ``[B, C_out, scale*H, scale*W]`` in ``forward``'s output range and dtype.

``chop`` reproduces ``forward_chop`` of the PANet / EDSR-PyTorch code (Mei et al., 2020), which
produced the published numbers: non-local attention only ever sees one piece, so matching the
paper needs exactly the same pieces. ``tiles`` is the practical tiler for user images: fixed-size
tiles in batches, cross-faded so that no seams appear.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

Forward = Callable[[Tensor], Tensor]


def _check_batch(x: Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(f"expected an image batch shaped [B, C, H, W]; got {tuple(x.shape)}")
    if x.shape[-2] < 1 or x.shape[-1] < 1:
        raise ValueError(f"image batch has an empty spatial size {tuple(x.shape[-2:])}")


def _check_output(y: Tensor, piece: Tensor, scale: int) -> None:
    expected = (piece.shape[0], scale * piece.shape[-2], scale * piece.shape[-1])
    got = (y.shape[0], y.shape[-2], y.shape[-1])
    if y.dim() != 4 or got != expected:
        raise ValueError(
            f"forward turned a piece of shape {tuple(piece.shape)} into {tuple(y.shape)}; with "
            f"scale={scale} it must return [N, C_out, {expected[1]}, {expected[2]}]: pass the "
            "network's own scale"
        )


# --------------------------------------------------------------------------------------------
# chop: the authors' recursive quadrant split
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AxisSplit:
    """How ``chop`` cuts one axis of length ``length`` (input pixels) into two overlapping pieces.

    ``half`` is where the output is stitched (``length // 2``); ``size`` is the extent of each
    piece: ``half + shave``, rounded as the authors' SR code does (``size += size % scale``), and
    never more than ``length`` (the authors' code breaks on images narrower than about
    ``2 * shave``; clamping keeps the same stitching and gives the whole-axis result there).
    The first piece is ``[0, size)``, the second ``[length - size, length)``.
    """

    length: int
    half: int
    size: int

    @classmethod
    def of(cls, length: int, *, shave: int, scale: int) -> AxisSplit:
        half = length // 2
        size = half + shave
        size += size % scale
        return cls(length=length, half=half, size=min(size, length))

    def input_slices(self) -> tuple[slice, slice]:
        """Input ranges of the first and second piece along this axis."""
        return slice(0, self.size), slice(self.length - self.size, self.length)

    def output_slices(self, scale: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
        """``(destination, source)`` output ranges for the first and second piece.

        The first piece gives output ``[0, s*half)`` from its own start; the second gives
        ``[s*half, s*length)`` from the end of its output.
        """
        out_len, out_half, out_size = scale * self.length, scale * self.half, scale * self.size
        first = (slice(0, out_half), slice(0, out_half))
        second = (slice(out_half, out_len), slice(out_size - out_len + out_half, out_size))
        return first, second


def chop_pieces(h: int, w: int, *, scale: int = 1, shave: int = 10) -> tuple[AxisSplit, AxisSplit]:
    """The row and column splits ``chop`` uses for an ``h × w`` input (see :class:`AxisSplit`)."""
    return AxisSplit.of(h, shave=shave, scale=scale), AxisSplit.of(w, shave=shave, scale=scale)


def chop(
    forward: Forward, x: Tensor, *, scale: int = 1, shave: int = 10, min_size: int = 6800
) -> Tensor:
    """Run ``forward`` on ``x`` by the authors' recursive four-quadrant split ("chop").

    The input is cut into four overlapping quadrants (split at ``H // 2``, ``W // 2``, each piece
    ``shave`` pixels bigger than the half). If a piece has fewer than ``min_size`` pixels
    (``piece_h * piece_w < min_size``) the four pieces go through ``forward`` one after another;
    otherwise each piece is chopped again. The output is stitched from the non-overlapping central
    parts, the overlap scaled by ``scale``. Same arithmetic as the authors' ``forward_chop`` with
    one GPU (the thresholds they used: 6,800 for colour denoising, 6,400 for demosaicing, JPEG
    artifact removal and SR).

    Args:
        forward: network or closure, ``[N, C, h, w] -> [N, C_out, scale*h, scale*w]``.
        x: ``[B, C, H, W]`` batch in ``forward``'s input range.
        scale: the network's upscaling factor (1 for restoration).
        shave: overlap added to each half, in input pixels.
        min_size: piece area (input pixels) below which pieces are run instead of split.

    Returns:
        ``[B, C_out, scale*H, scale*W]`` in ``forward``'s output range.
    """
    _check_batch(x)
    if scale < 1 or shave < 0 or min_size < 1:
        raise ValueError(
            f"chop needs scale >= 1, shave >= 0 and min_size >= 1; got scale={scale}, "
            f"shave={shave}, min_size={min_size}"
        )
    return _chop(forward, x, scale=scale, shave=shave, min_size=min_size)


def _chop(forward: Forward, x: Tensor, *, scale: int, shave: int, min_size: int) -> Tensor:
    rows, cols = chop_pieces(x.shape[-2], x.shape[-1], scale=scale, shave=shave)
    if rows.size == rows.length and cols.size == cols.length:
        # Every quadrant would be the whole input (tiny image): one call gives the same result
        # and stops the recursion.
        return _run(forward, x, scale)
    pieces = [x[:, :, r, c] for r in rows.input_slices() for c in cols.input_slices()]
    if rows.size * cols.size < min_size:
        outputs = [_run(forward, piece, scale) for piece in pieces]
    else:
        outputs = [
            _chop(forward, piece, scale=scale, shave=shave, min_size=min_size) for piece in pieces
        ]

    b, c_out = x.shape[0], outputs[0].shape[1]
    out = outputs[0].new_empty(b, c_out, scale * rows.length, scale * cols.length)
    quadrant = 0
    for row_dst, row_src in rows.output_slices(scale):
        for col_dst, col_src in cols.output_slices(scale):
            out[:, :, row_dst, col_dst] = outputs[quadrant][:, :, row_src, col_src]
            quadrant += 1
    return out


def _run(forward: Forward, piece: Tensor, scale: int) -> Tensor:
    # The authors feed torch.cat([...]) of pieces, i.e. contiguous memory; doing the same keeps
    # the convolution kernels (and their float rounding) identical.
    piece = piece.contiguous()
    y = forward(piece)
    _check_output(y, piece, scale)
    return y


# --------------------------------------------------------------------------------------------
# tiles: fixed-size overlapping tiles, batched and cross-faded
# --------------------------------------------------------------------------------------------


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
    extent: int, *, has_prev: bool, has_next: bool, overlap: int, scale: int = 1
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
    w = torch.ones(n, dtype=torch.float64)
    rising = torch.cat(
        [torch.zeros(margin, dtype=torch.float64), torch.arange(1, ramp + 1) / (ramp + 1.0)]
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
    _check_batch(x)
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
    weight_sum = torch.zeros(scale * h, scale * w, dtype=torch.float64, device=x.device)
    for first in range(0, len(positions), batch_size):
        group = positions[first : first + batch_size]
        batch = torch.cat([x[:, :, t : t + th, c : c + tw] for t, c in group], dim=0)
        y = forward(batch.contiguous())
        _check_output(y, batch, scale)
        if out is None:
            out = torch.zeros(b, y.shape[1], scale * h, scale * w, dtype=torch.float64)
            out = out.to(x.device)
        for k, (top, left) in enumerate(group):
            weight = _tile_weight(top, left, (th, tw), (h, w), overlap, scale).to(x.device)
            rows = slice(scale * top, scale * (top + th))
            cols = slice(scale * left, scale * (left + tw))
            out[:, :, rows, cols] += y[k * b : (k + 1) * b].double() * weight
            weight_sum[rows, cols] += weight
    assert out is not None  # at least one tile always exists
    return (out / weight_sum).to(y.dtype)


def _tile_weight(
    top: int,
    left: int,
    tile_hw: Sequence[int],
    image_hw: Sequence[int],
    overlap: int,
    scale: int,
) -> Tensor:
    (th, tw), (h, w) = tile_hw, image_hw
    wy = tile_weight_1d(th, has_prev=top > 0, has_next=top + th < h, overlap=overlap, scale=scale)
    wx = tile_weight_1d(tw, has_prev=left > 0, has_next=left + tw < w, overlap=overlap, scale=scale)
    return wy[:, None] * wx[None, :]
