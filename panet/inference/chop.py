"""The authors' "chop": run a network on an image by a recursive four-quadrant split.

``chop`` reproduces ``forward_chop`` of the PANet / EDSR-PyTorch code (Mei et al., 2020), which
produced the published numbers: non-local attention only ever sees one piece, so matching the
paper needs exactly the same pieces. It takes ``forward`` (see ``panet.inference.pieces``) and
a batch ``[B, C, H, W]`` and returns ``[B, C_out, scale*H, scale*W]`` in ``forward``'s output
range and dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from panet.inference.pieces import Forward, check_batch, check_output


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
    check_batch(x)
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
    check_output(y, piece, scale)
    return y
