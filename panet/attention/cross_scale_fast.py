"""Fast exact cross-scale attention: the function of ``faithful_cross_scale`` through box sums.

Why it is exact (``shared/docs/pyramid-attention.md``, "The same form for CSNLN's cross-scale
attention"). Matching is pyramid attention's with a single level of keys on the coarse grid:
``score[i, j] = t / ||K_j|| * sum_o P[i + o, j + o]``, ``P = q^T k`` a c-dimensional matmul.
For the paste write an output position as ``u*m + r`` (phase ``r`` in ``{0..u-1}^2``): the
``3u x 3u`` value patch ``j`` (cut from row ``u*j - u``) reaches it from the query neighbours
``m - o`` (``o`` in ``{-1, 0, 1}^2``) with the sample ``v[u*(j + o) + r]``, so

    out_r[m] = sum_o sum_j A[m - o, j] v_r[j + o] = sum_j' B[m, j'] v_r[j'],
    B[m, j'] = sum_o A[m - o, j' - o],   v_r[j'] = v[u*j' + r],

which is the pyramid paste with the value map subsampled at phase ``r``. Stacking the ``u^2``
phase maps along channels (``C*u^2`` channels on the coarse grid) turns the whole cross-scale
attention into one call of the fast pyramid attention (one level, patch 3) followed by a
pixel shuffle, which puts phase ``(ry, rx)`` of channel ``c`` (stacked index
``c*u^2 + ry*u + rx``) at ``(u*m_y + ry, u*m_x + rx)``. That call brings the blocked rows,
the saved log-sum-exp and the recompute-in-backward of ``panet.attention.fast``; its constant
divisor 4 is replaced by the authors' 6 here.

Memory. The output is ``u^2`` times the input, so output-sized copies dominate the peak: with
the ``fast`` implementation each block's paste goes straight into its place in the shuffled
``[B, C, uH, uW]`` output (``PhaseShuffleLayout``) and backward reads each block's gradient rows
back from that layout, so neither the padded stacked grid nor the pixel shuffle's copy exists.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from panet.attention.cross_scale import CROSS_SCALE_DIVISOR, check_cross_scale_inputs
from panet.attention.dispatch import AttentionCall, select
from panet.attention.faithful import OUTPUT_DIVISOR
from panet.attention.fast import fast_attention_into

#: Block budget (elements of one score-sized buffer) asked of the fast pyramid attention: the
#: cross-scale score map is small (H*W x H*W/u^2 per image: 1.7M at the 48x48 training shape),
#: so one image per block keeps each of its five workspace buffers near 7 MB instead of the
#: default's 128 MB, at no measurable cost in time.
CROSS_SCALE_BLOCK_ELEMENTS = 1 << 21


def phase_stack(value: Tensor, up_factor: int) -> Tensor:
    """``[B, C, H, W]`` -> ``[B, C*u^2, H/u, W/u]``: channel ``c*u^2 + ry*u + rx`` at ``j`` is
    ``value[c, u*j_y + ry, u*j_x + rx]`` (the inverse of ``pixel_shuffle``)."""
    return F.pixel_unshuffle(value, up_factor)


class PhaseShuffleLayout:
    """``panet.attention.fast.OutputLayout`` of the phase-stacked paste: stacked channel
    ``c*u^2 + ry*u + rx`` at padded query row/column ``(m_y + p, m_x + p)`` is output pixel
    ``(c, u*m_y + ry, u*m_x + rx)`` of ``[B, C, uH, uW]`` (``pixel_shuffle``'s order)."""

    def __init__(self, height: int, width: int, up_factor: int, pad: int) -> None:
        self.height, self.width, self.up_factor, self.pad = height, width, up_factor, pad

    def new_output(self, like: Tensor, batch: int, channels: int) -> Tensor:
        u = self.up_factor
        return like.new_zeros(batch, channels // (u * u), u * self.height, u * self.width)

    def _phases(self, image: Tensor) -> Tensor:
        """``[n, C, uH, uW]`` viewed as ``[n, H, W, C, u, u]``."""
        n, channels, u = image.shape[0], image.shape[1], self.up_factor
        grid = image.view(n, channels, self.height, u, self.width, u)
        return grid.permute(0, 2, 4, 1, 3, 5)

    def _rows(self, block: Tensor, first_row: int) -> tuple[Tensor, slice]:
        """The block's real rows and columns as ``[n, rows, W, C, u, u]`` and the output rows
        they are."""
        u, pad = self.up_factor, self.pad
        n, halo_rows = block.shape[0], block.shape[1] // (self.width + 2 * pad)
        grid = block.view(n, halo_rows, self.width + 2 * pad, -1, u, u)
        top = first_row - pad  # output row of the block's first row
        y0, y1 = max(0, top), min(self.height, top + halo_rows)
        return grid[:, y0 - top : y1 - top, pad : pad + self.width], slice(y0, y1)

    def add_block(self, out: Tensor, block: Tensor, images: slice, first_row: int) -> None:
        rows, span = self._rows(block, first_row)
        self._phases(out[images])[:, span] += rows

    def gather_block(self, grad: Tensor, rows_out: Tensor, images: slice, first_row: int) -> Tensor:
        rows_out.zero_()
        rows, span = self._rows(rows_out, first_row)
        rows.copy_(self._phases(grad[images])[:, span])
        return rows_out


def fast_cross_scale(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    *,
    up_factor: int,
    softmax_scale: float = 10.0,
    hard: bool = False,
    pyramid_impl: str = "fast",
    memory_budget_mb: float | None = None,
) -> Tensor:
    """Same arguments, result and gradients as ``faithful_cross_scale``: ``[B, C, uH, uW]``.

    ``pyramid_impl`` names the box-sum pyramid attention that runs the matching and paste
    (``fast``, or ``auto``/``triton``/``dense``/``compiled``, which pick or run the same
    function), checked and planned like the pyramid attention's (``dispatch.select``) within
    ``memory_budget_mb``."""
    check_cross_scale_inputs(query, key, value, up_factor)
    # the paste is linear in the values: scaling them (H*W*C elements) instead of the output
    # (u^2 times more) by 1/6 (the fast layout's pasted values are not divided by 4) or 4/6
    # (the other implementations divide by 4) gives the authors' divisor 6
    stacked = phase_stack(value, up_factor)
    call = AttentionCall(query, (key,), (stacked,), 3, hard, memory_budget_mb)
    implementation = select(pyramid_impl, call)
    options = dict(patch_size=3, softmax_scale=softmax_scale, hard=hard)
    if implementation.bounded:
        options["memory_budget_mb"] = memory_budget_mb
    if implementation.name == "fast":
        height, width = query.shape[-2:]
        return fast_attention_into(
            PhaseShuffleLayout(height, width, up_factor, pad=1),
            query,
            [key],
            [stacked * (1.0 / CROSS_SCALE_DIVISOR)],
            block_elements=CROSS_SCALE_BLOCK_ELEMENTS,
            **options,
        )
    pasted = implementation.function()(
        query, [key], [stacked * (OUTPUT_DIVISOR / CROSS_SCALE_DIVISOR)], **options
    )  # [B, C*u^2, H, W]
    return F.pixel_shuffle(pasted, up_factor)
