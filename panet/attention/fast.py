"""Fast exact pyramid attention: the same function as ``panet.attention.faithful``, less work.

Why it is exact (see ``shared/docs/pyramid-attention.md``, "The exact fast form"): a k x k
patch dot product is the sum over the k² offsets ``o`` of per-pixel dot products at the *same*
offset on both sides, ``score[i, j] = t / ||K_j|| * sum_o P[i + o, j + o]`` with
``P = f(x)^T g(z)`` a c-dimensional matmul. Pasting the weighted value patches is the adjoint
box sum ``B[p, j] = sum_o A[p - o, j - o]`` of the softmax weights ``A`` followed by a
C-dimensional matmul with ``θ(z)``. Both box sums run along the "diagonal" of the score map.

Layout. Queries live on the zero-padded query grid (width ``W + 2p``, ``p = k // 2``) and every
level's keys on their own zero-padded grid, flattened; the levels are concatenated along the
key axis. A diagonal shift by ``(oy, ox)`` is then a plain 2-D slice offset of the
``[query, key]`` matrix: ``(oy * (W + 2p) + ox, oy * (Wl + 2p) + ox)``. Entries at padded
positions come out as finite "garbage" and are neutralized: padded keys get a score of -inf
(weight exactly 0) and padded query columns get weight 0, so every shift that crosses a row
end lands on an exact zero and the interior results are exact.

Memory. The work is blocked over query rows (a halo of ``p`` rows on each side for the score
box sum and for the pasted output) and, for small images, batched over images, so that only a
few block-sized ``[rows * (W + 2p), sum_l (Hl + 2p)(Wl + 2p)]`` buffers live at once. A custom
autograd Function saves only its (small) inputs and each query's softmax log-sum-exp, and
recomputes each block in backward (the weights then come out of one ``exp(s - lse)`` per score,
without normalizing again), so the full score map is never held, neither in forward nor in
backward.

Native path. Between the matmuls on the block's outputs (the paste with the values, the
gradients of values, query and keys, left to BLAS) one C pass per block does the rest from the
matmuls' inputs: it computes the pixel scores itself in register tiles into a ring of rows,
the weights (or, in backward, their gradient) into a second ring, and writes only the pasted
rows (backward: also dL/d pixel scores), so no score-sized buffer is written and read back
between the steps (``panet.attention.native``). Hard attention and the pure-PyTorch fallback
store the scores and weights of a block in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from panet.attention.faithful import KEY_NORM_EPS, OUTPUT_DIVISOR, check_attention_inputs
from panet.attention.huge_pages import empty_with_huge_pages
from panet.attention.native import (
    NATIVE_MAX_PATCH,
    key_panels,
    native_box,
    native_library,
    native_paste_stream,
    native_weights,
)

#: Target number of elements of one block buffer (32M float32 = 128 MB; the training shape's
#: 48x48 image with 5 levels needs 21M, so one image per block); two such buffers live at once
#: on the native soft path, up to five on the others. Smaller blocks cut memory but add
#: recomputed halo rows and, above all, many more small parallel regions, whose thread
#: synchronisation is costly on a busy machine.
DEFAULT_BLOCK_ELEMENTS = 1 << 25
#: Without autograd the authors' forward holds several full [M, H, W] score maps per image;
#: a forward-only call may then let its live block buffers (one on the native soft path, four
#: on the others) hold up to 1/``INFERENCE_SHARE`` of one score map together, which on large
#: tiles cuts the rows recomputed around every block and thread share (at 128x128 natively,
#: 64 rows per block instead of 4) while keeping well under 1/3 of the faithful path's peak.
INFERENCE_SHARE = 2
#: Columns (keys) per GEMM when a block's score-sized product has a small inner dimension
#: (the c = 32 pixel scores, the C = 64 gradient of the paste; on the hard and pure-PyTorch
#: paths, the native soft path computes these itself): MKL writes a [rows, L] output
#: with long rows about half as fast as it writes [rows, 512] pieces, even counting the copy
#: of each piece into place (measured at the 48x48 training block and the inference tiles,
#: 1 and 2 threads: 1.8-2.4x on those GEMMs).
WIDE_GEMM_COLUMNS = 512
#: Fewest query rows per block: each block recomputes 2p halo rows of pixel scores and pastes.
MIN_BLOCK_ROWS = 4


@dataclass(frozen=True)
class BlockGeometry:
    """Sizes of the padded, flattened layouts shared by forward and backward."""

    pad: int
    height: int  # query grid H (interior)
    width: int  # query grid W (interior)
    level_sizes: tuple[tuple[int, int], ...]  # interior (Hl, Wl) per level
    softmax_scale: float
    hard: bool
    block_rows: int  # interior query rows per block
    block_images: int  # images per block

    @property
    def padded_width(self) -> int:
        return self.width + 2 * self.pad

    @property
    def padded_height(self) -> int:
        return self.height + 2 * self.pad

    def padded_level(self, level: int) -> tuple[int, int]:
        h, w = self.level_sizes[level]
        return h + 2 * self.pad, w + 2 * self.pad

    def key_spans(self) -> list[tuple[int, int, int]]:
        """Per level: (start, length, padded key-grid width) in the concatenated key axis."""
        spans, start = [], 0
        for level in range(len(self.level_sizes)):
            hp, wp = self.padded_level(level)
            spans.append((start, hp * wp, wp))
            start += hp * wp
        return spans

    @property
    def total_keys(self) -> int:
        return sum(length for _, length, _ in self.key_spans())


def _choose_blocks(
    batch: int, height: int, padded_width: int, pad: int, total_keys: int, budget: int
) -> tuple[int, int]:
    """(interior rows per block, images per block) so one block buffer holds ~``budget``
    elements; at least ``MIN_BLOCK_ROWS`` rows, so the recomputed halo rows stay a minor cost
    even when one padded row of a large tile alone exceeds the budget."""
    row_elements = padded_width * total_keys
    image_elements = (height + 2 * pad) * row_elements
    if image_elements <= budget:
        return height, max(1, min(batch, budget // image_elements))
    return max(min(height, MIN_BLOCK_ROWS), min(height, budget // row_elements - 2 * pad)), 1


def _add_taps(src: Tensor, dst: Tensor, taps: list[tuple[int, int]], q_rng, k_rng) -> None:
    """``dst[:, q, k] = sum_taps src[:, q + dq, k + dk]`` on the region ``q_rng x k_rng`` of
    ``dst``, each tap clipped to the bounds of ``src`` (outside counts as zero)."""
    (q0, q1), (k0, k1) = q_rng, k_rng
    if q1 <= q0 or k1 <= k0:
        return
    n_src, n_key = src.shape[1], src.shape[2]
    dst[:, q0:q1, k0:k1].zero_()
    for dq, dk in taps:
        a0, a1 = max(q0, -dq), min(q1, n_src - dq)
        b0, b1 = max(k0, -dk), min(k1, n_key - dk)
        if a1 > a0 and b1 > b0:
            dst[:, a0:a1, b0:b1] += src[:, a0 + dq : a1 + dq, b0 + dk : b1 + dk]


def _shift_sum(
    src: Tensor, dst: Tensor, q_step: int, k_step: int, q_offset: int, pad: int, exact_rims: bool
) -> None:
    """``dst[:, q, k] = sum_{o=-pad..pad} src[:, q + q_offset + o*q_step, k + o*k_step]``.

    ``src`` [n, Qs, K] and ``dst`` [n, Qd, K] (either may be a strided view); entries of
    ``src`` outside its bounds count as zero. One separable pass of the diagonal box sum: the
    region where every tap is in bounds takes one fused add per tap. The rims around it hold
    padded positions whose values never reach an interior result; they are set to zero (any
    finite value would do) unless ``exact_rims`` asks for the query rims to be summed tap by
    tap (the halo rows of a paste are real output rows).
    """
    n_src, n_dst, n_key = src.shape[1], dst.shape[1], src.shape[2]
    taps = [(q_offset + o * q_step, o * k_step) for o in range(-pad, pad + 1)]
    q0 = min(n_dst, max(0, *(-dq for dq, _ in taps)))
    q1 = max(q0, min(n_dst, *(n_src - dq for dq, _ in taps)))
    k0 = min(n_key, max(0, *(-dk for _, dk in taps)))
    k1 = max(k0, min(n_key, *(n_key - dk for _, dk in taps)))
    if q1 > q0 and k1 > k0:
        inner = dst[:, q0:q1, k0:k1]
        views = [src[:, q0 + dq : q1 + dq, k0 + dk : k1 + dk] for dq, dk in taps]
        if len(views) == 1:
            inner.copy_(views[0])
        else:
            torch.add(views[0], views[1], out=inner)
            for view in views[2:]:
                inner += view
    rim = _add_taps if exact_rims else _zero_region
    rim(src, dst, taps, (0, q0), (0, n_key))
    rim(src, dst, taps, (q1, n_dst), (0, n_key))
    _zero_region(src, dst, taps, (q0, q1), (0, k0))
    _zero_region(src, dst, taps, (q0, q1), (k1, n_key))


def _zero_region(src: Tensor, dst: Tensor, taps, q_rng, k_rng) -> None:
    """Zero ``dst`` on ``q_rng x k_rng`` (same signature as ``_add_taps``)."""
    (q0, q1), (k0, k1) = q_rng, k_rng
    if q1 > q0 and k1 > k0:
        dst[:, q0:q1, k0:k1].zero_()


def _diagonal_box(
    src: Tensor, out: Tensor, partial: Tensor, geo: BlockGeometry, row_offset: int
) -> Tensor:
    """k x k box sum along the diagonal into ``out`` [n, rows_out * Wq, L]:
    ``out[q, k] = sum_o src[q + row_offset * Wq + o_q, k + o_k]`` (``src`` zero outside its
    rows), exact wherever ``q`` and ``k`` are real (unpadded) positions; ``partial`` is
    scratch of ``out``'s shape. Row shifts depend on each level's key-grid width, so they run
    level by level; column shifts are (+1, +1) for every level and run on all keys at once."""
    wq, pad = geo.padded_width, geo.pad
    for start, length, key_width in geo.key_spans():
        s = slice(start, start + length)
        _shift_sum(
            src[:, :, s], partial[:, :, s], wq, key_width, row_offset * wq, pad, row_offset < 0
        )
    _shift_sum(partial, out, 1, 1, 0, pad, False)
    return out


def _key_bias(geo: BlockGeometry, like: Tensor) -> Tensor:
    """[L_total]: 0 at real key positions, -inf at padded ones (weight exactly zero)."""
    parts = []
    for level in range(len(geo.level_sizes)):
        h, w = geo.level_sizes[level]
        inside = torch.zeros(h, w, dtype=like.dtype, device=like.device)
        parts.append(F.pad(inside, (geo.pad,) * 4, value=float("-inf")).flatten())
    return torch.cat(parts)


class _Workspace:
    """Block-sized scratch buffers, allocated on first use and reused by every block: fresh
    multi-megabyte allocations per block would cost a page fault per 4 KB on first touch."""

    def __init__(self, like: Tensor, geo: BlockGeometry) -> None:
        self.geo, self.like = geo, like
        self.buffers: dict[int, Tensor] = {}
        self.columns: Tensor | None = None
        self.flat: Tensor | None = None

    def get(self, index: int, images: int, rows: int) -> Tensor:
        """Buffer ``index`` viewed as [images, rows * Wq, L_total]."""
        if index not in self.buffers:
            halo_rows = self.geo.block_rows + 2 * self.geo.pad
            size = self.geo.block_images * halo_rows * self.geo.padded_width
            self.buffers[index] = empty_with_huge_pages(self.like, size * self.geo.total_keys)
        shape = (images, rows * self.geo.padded_width, self.geo.total_keys)
        return self.buffers[index][: images * shape[1] * shape[2]].view(shape)

    def scratch(self, elements: int) -> Tensor:
        """A flat buffer of at least ``elements``, kept (and grown) across the blocks."""
        if self.flat is None or self.flat.numel() < elements:
            self.flat = empty_with_huge_pages(self.like, elements)
        return self.flat

    def wide_bmm(self, a: Tensor, b: Tensor, out: Tensor) -> Tensor:
        """``out = a @ b`` [n, M, L] for a small inner dimension (c or C) and all the keys:
        on the CPU in column chunks of ``WIDE_GEMM_COLUMNS`` through a contiguous scratch."""
        n, rows, width = out.shape
        if out.device.type != "cpu" or width <= 2 * WIDE_GEMM_COLUMNS:
            return torch.bmm(a, b, out=out)
        if self.columns is None:
            halo_rows = self.geo.block_rows + 2 * self.geo.pad
            size = self.geo.block_images * halo_rows * self.geo.padded_width * WIDE_GEMM_COLUMNS
            self.columns = out.new_empty(size)
        for start in range(0, width, WIDE_GEMM_COLUMNS):
            stop = min(width, start + WIDE_GEMM_COLUMNS)
            part = self.columns[: n * rows * (stop - start)].view(n, rows, stop - start)
            torch.bmm(a, b[:, :, start:stop], out=part)
            out[:, :, start:stop].copy_(part)
        return out


def _zero_padded_queries(weights: Tensor, geo: BlockGeometry) -> None:
    """Zero the weights of padded query columns [n, rows * Wq, L] (they paste nothing)."""
    if geo.pad:
        grid = weights.view(weights.shape[0], -1, geo.padded_width, weights.shape[2])
        grid[:, :, : geo.pad].zero_()
        grid[:, :, geo.pad + geo.width :].zero_()


def _block_weights(
    query_rows: Tensor,
    keys: Tensor,
    scale: Tensor,
    bias: Tensor,
    geo: BlockGeometry,
    rows: int,
    work: _Workspace,
    lib,
    lse: Tensor | None,
) -> Tensor:
    """Attention weights ``A`` of one block, [n, rows * Wq, L_total] in the padded layout (zero
    at padded queries and keys), stored step by step (hard attention, the eager path).

    ``query_rows`` [n, c, (rows + 2p) * Wq] (the block's rows plus halo), ``keys`` [n, c, L],
    ``scale`` [n, L] (softmax scale / key norm, zero at padded keys), ``bias`` [L]. Uses
    workspace slots 0 (pixel scores), 1 (scratch), 2 (raw) and 3 (weights). Native path only:
    ``lse`` [n, rows * Wq] (contiguous) receives each query's softmax log-sum-exp.
    """
    n, halo_rows = query_rows.shape[0], rows + 2 * geo.pad
    pixel = work.wide_bmm(query_rows.transpose(1, 2), keys, work.get(0, n, halo_rows))
    weights = work.get(3, n, rows)
    if lib is None:
        raw = _diagonal_box(pixel, work.get(2, n, rows), work.get(1, n, rows), geo, geo.pad)
        scores = torch.addcmul(bias, raw, scale.unsqueeze(1), out=work.get(1, n, rows))
        torch.ops.aten._softmax.out(scores, -1, False, out=weights)
        _zero_padded_queries(weights, geo)
    else:
        native_weights(lib, pixel, weights, scale.contiguous(), bias, lse, geo)
    if geo.hard:
        weights.copy_(weights == weights.amax(dim=-1, keepdim=True))
        _zero_padded_queries(weights, geo)
    return weights


def _paste(weights: Tensor, out: Tensor, partial: Tensor | None, geo: BlockGeometry, lib) -> Tensor:
    """Adjoint box sum ``B[p, j] = sum_o A[p - o, j - o]`` of a block's weights
    [n, rows * Wq, L] onto its rows plus halo, ``out`` [n, (rows + 2p) * Wq, L]."""
    if lib is None:
        return _diagonal_box(weights, out, partial, geo, -geo.pad)
    native_box(lib, weights, out, geo, -geo.pad)
    return out


def _blocks(geo: BlockGeometry, batch: int):
    """Yield (image slice, first interior row, rows) of every block."""
    for b0 in range(0, batch, geo.block_images):
        images = slice(b0, min(batch, b0 + geo.block_images))
        for r0 in range(0, geo.height, geo.block_rows):
            yield images, r0, min(geo.block_rows, geo.height - r0)


def _streams(native: bool, geo: BlockGeometry) -> bool:
    """Whether blocks go through the streamed native pass (soft attention on the native path)."""
    return native and not geo.hard


def _block_pasted(
    query_rows: Tensor,
    keys: Tensor,
    panels: Tensor | None,
    scale: Tensor,
    bias: Tensor,
    geo: BlockGeometry,
    rows: int,
    work: _Workspace,
    lib,
    lse: Tensor | None,
    lse_known: bool,
) -> Tensor:
    """The adjoint box sum of one block's attention weights onto its rows plus halo,
    [n, (rows + 2p) * Wq, L] in workspace slot 1 (arguments as ``_block_weights``). With
    ``panels`` (``key_panels`` of ``keys``) the streamed native pass computes the pixel scores
    and the weights row by row into the paste, using ``lse`` when ``lse_known``; otherwise
    (hard attention, the eager path) they are stored first."""
    n, halo_rows = query_rows.shape[0], rows + 2 * geo.pad
    pasted = work.get(1, n, halo_rows)
    if panels is None:
        weights = _block_weights(query_rows, keys, scale, bias, geo, rows, work, lib, lse)
        return _paste(weights, pasted, work.get(0, n, halo_rows), geo, lib)
    native_paste_stream(
        lib, query_rows, panels, scale.contiguous(), bias, lse, not lse_known, pasted, geo,
        work.scratch,
    )  # fmt: skip
    return pasted


def _eager_scores_backward(
    pixel: Tensor,
    d_pasted: Tensor,
    scale: Tensor,
    bias: Tensor,
    geo: BlockGeometry,
    rows: int,
    work: _Workspace,
    d_scale: Tensor,
) -> tuple[Tensor, Tensor]:
    """Pure-PyTorch backward of one block from its pixel scores (slot 0) and dL/d pasted
    weights (slot 1), both [n, (rows + 2p) * Wq, L]: adds the scale's gradient to ``d_scale``
    [n, L] and returns the pasted weights and dL/d pixel scores (slots 0 and 1)."""
    n, halo_rows = pixel.shape[0], rows + 2 * geo.pad
    raw, weights = work.get(2, n, rows), work.get(3, n, rows)
    _diagonal_box(pixel, raw, work.get(4, n, rows), geo, geo.pad)
    scores = torch.addcmul(bias, raw, scale.unsqueeze(1), out=work.get(4, n, rows))
    torch.ops.aten._softmax.out(scores, -1, False, out=weights)
    _zero_padded_queries(weights, geo)
    d_weights = _diagonal_box(d_pasted, work.get(4, n, rows), work.get(0, n, rows), geo, geo.pad)
    # softmax backward, in place: dS = A * (dA - sum_j A dA)
    d_weights.mul_(weights)
    d_weights.addcmul_(weights, d_weights.sum(dim=-1, keepdim=True), value=-1.0)
    d_scale += raw.mul_(d_weights).sum(dim=1)
    d_weights.mul_(scale.unsqueeze(1))  # now d loss / d raw scores
    scratch = work.get(2, n, halo_rows)
    pasted = _paste(weights, work.get(0, n, halo_rows), scratch, geo, None)
    return pasted, _paste(d_weights, work.get(1, n, halo_rows), scratch, geo, None)


class _InputGrads:
    """The attention Function's input gradients, accumulated block by block as
    [B, positions, channels] (BLAS writes these [L, c] and [L, C] products about 1.5x faster
    than [c, L] ones at the training shape) and handed back as views in the inputs'
    [B, channels, positions] layout."""

    def __init__(self, query: Tensor, keys: Tensor, values: Tensor, scale: Tensor, needs) -> None:
        need_q, need_k, need_v, need_scores = needs

        def zeros(like: Tensor, wanted: bool) -> Tensor | None:
            return like.new_zeros(like.shape[0], like.shape[2], like.shape[1]) if wanted else None

        self.query, self.keys = zeros(query, need_q), zeros(keys, need_k)
        self.values = zeros(values, need_v)
        self.scale = torch.zeros_like(scale) if need_scores else None

    def add_values(self, images: slice, grad_rows: Tensor, pasted: Tensor) -> None:
        """The values' share of one block: pasted^T [L, Q] @ dL/d out [Q, C]."""
        if self.values is not None:
            self.values[images].baddbmm_(pasted.transpose(1, 2), grad_rows)

    def add_scores(
        self, images: slice, halo: slice, query_rows: Tensor, keys: Tensor, d_pixel: Tensor
    ) -> None:
        """The query's and keys' share of one block from dL/d pixel scores [n, Q, L]."""
        if self.query is not None:
            self.query[images, halo].baddbmm_(d_pixel, keys.transpose(1, 2))
        if self.keys is not None:
            self.keys[images].baddbmm_(d_pixel.transpose(1, 2), query_rows.transpose(1, 2))

    def result(self, need_scale: bool) -> tuple[Tensor | None, ...]:
        """(d query, d keys, d values, d scale) in the Function's input layouts."""
        grads = (self.query, self.keys, self.values)
        channels_first = [None if g is None else g.transpose(1, 2) for g in grads]
        return (*channels_first, self.scale if need_scale else None)


class OutputLayout(Protocol):
    """Where the pasted values go, when not into the padded ``[B, (H+2p)(W+2p), C]`` grid.

    The attention Function pastes block by block; a layout takes each block's result and, in
    backward, hands back the gradient rows of a block, so that a caller that rearranges the
    output anyway (CSNLN's pixel shuffle) never holds the padded grid beside its own output."""

    def new_output(self, like: Tensor, batch: int, channels: int) -> Tensor:
        """The zero-filled output for ``batch`` images of ``channels`` pasted channels."""
        ...

    def add_block(self, out: Tensor, block: Tensor, images: slice, first_row: int) -> None:
        """Add ``block`` [n, halo_rows * Wq, C] (padded query rows ``first_row`` ..) to ``out``,
        dropping padded rows and columns."""
        ...

    def gather_block(self, grad: Tensor, rows_out: Tensor, images: slice, first_row: int) -> Tensor:
        """Fill ``rows_out`` [n, halo_rows * Wq, C] with the gradient of those rows (zero at
        padded positions) and return it."""
        ...


def _block_rows_buffer(like: Tensor, geo: BlockGeometry, channels: int) -> Tensor:
    """Scratch for one block's pasted (or gradient) rows: [images, (rows + 2p) * Wq, C]."""
    halo_rows = geo.block_rows + 2 * geo.pad
    return like.new_empty(geo.block_images, halo_rows * geo.padded_width, channels)


class _FastPyramidAttention(torch.autograd.Function):
    """Blocked forward; backward recomputes every block instead of storing the score map.

    Inputs: padded query ``[B, c, (H+2p) * (W+2p)]``, concatenated padded keys ``[B, c, L]``,
    values ``[B, C, L]`` and score scales ``[B, L]``. Output: the pasted values on the padded
    query grid, ``[B, (H+2p) * (W+2p), C]`` (not yet divided by 4 nor cropped). On the native
    path forward also keeps each query's softmax log-sum-exp (``[B, H * (W+2p)]``, tiny), so
    that backward gets the weights without normalizing them again.
    """

    @staticmethod
    def forward(ctx, query, keys, values, scale, geo: BlockGeometry, native: bool, layout=None):  # noqa: D102
        batch, wq = query.shape[0], geo.padded_width
        lib = native_library() if native else None
        bias = _key_bias(geo, query)
        values_t = values.transpose(1, 2)  # [B, L, C]
        if layout is None:
            out = query.new_zeros(batch, geo.padded_height * wq, values.shape[1])
        else:
            out = layout.new_output(query, batch, values.shape[1])
            block_out = _block_rows_buffer(query, geo, values.shape[1])
        # blocks hold either whole images or rows of one image, so lse slices are contiguous
        lse = query.new_empty(batch, geo.height * wq) if native else None
        work = _Workspace(query, geo)
        panels = key_panels(keys) if _streams(native, geo) else None  # packed once per call
        for images, r0, rows in _blocks(geo, batch):
            n, halo_rows = images.stop - images.start, rows + 2 * geo.pad
            halo = slice(r0 * wq, (r0 + halo_rows) * wq)
            pasted = _block_pasted(
                query[images, :, halo],
                keys[images],
                None if panels is None else panels[images],
                scale[images],
                bias,
                geo,
                rows,
                work,
                lib,
                lse=None if lse is None else lse[images, r0 * wq : (r0 + rows) * wq],
                lse_known=False,
            )
            if layout is None:
                out[images, halo].baddbmm_(pasted, values_t[images])
            else:
                block = torch.bmm(
                    pasted, values_t[images], out=block_out[:n, : halo.stop - halo.start]
                )
                layout.add_block(out, block, images, r0)
        ctx.geo, ctx.native, ctx.lse, ctx.layout = geo, native, lse, layout
        ctx.save_for_backward(query, keys, values, scale)
        return out

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        geo: BlockGeometry = ctx.geo
        lib = native_library() if ctx.native else None
        query, keys, values, scale = ctx.saved_tensors
        need_q, need_k, need_v, need_s = ctx.needs_input_grad[:4]
        need_scores = (need_q or need_k or need_s) and not geo.hard
        batch, wq = query.shape[0], geo.padded_width
        bias = _key_bias(geo, query)
        layout = ctx.layout
        if layout is None:
            grad_out = grad_out.contiguous()
        else:
            grad_block = _block_rows_buffer(query, geo, values.shape[1])
        needs = (need_scores and need_q, need_scores and need_k, need_v, need_scores)
        grads = _InputGrads(query, keys, values, scale, needs)
        work = _Workspace(query, geo)
        streams = _streams(ctx.native, geo)
        panels = key_panels(keys) if streams else None  # packed once per call
        value_panels = key_panels(values) if streams and need_scores else None
        for images, r0, rows in _blocks(geo, batch):
            n, halo_rows = images.stop - images.start, rows + 2 * geo.pad
            halo = slice(r0 * wq, (r0 + halo_rows) * wq)
            query_rows = query[images, :, halo]
            if layout is None:
                grad_rows = grad_out[images, halo]
            else:
                grad_rows = layout.gather_block(
                    grad_out, grad_block[:n, : halo.stop - halo.start], images, r0
                )
            lse = None if lib is None else ctx.lse[images, r0 * wq : (r0 + rows) * wq]
            if not need_scores:
                if need_v:
                    pasted = _block_pasted(
                        query_rows, keys[images], None if panels is None else panels[images],
                        scale[images], bias, geo, rows, work, lib, lse=lse, lse_known=True,
                    )  # fmt: skip
                    grads.add_values(images, grad_rows, pasted)
                continue
            if lib is None:
                pixel = work.wide_bmm(
                    query_rows.transpose(1, 2), keys[images], work.get(0, n, halo_rows)
                )
                # d loss / d weights before their box sum: <grad_out[p], θ[j]>
                d_pasted = work.wide_bmm(grad_rows, values[images], work.get(1, n, halo_rows))
                pasted, d_pixel = _eager_scores_backward(
                    pixel, d_pasted, scale[images], bias, geo, rows, work, grads.scale[images]
                )
            else:
                # one native pass from the matmuls' inputs: the pixel scores, the weights and
                # their gradients are computed row by row into the two pastes, never stored
                pasted, d_pixel = work.get(0, n, halo_rows), work.get(1, n, halo_rows)
                grads.scale[images] += native_paste_stream(
                    lib, query_rows, panels[images], scale[images].contiguous(), bias, lse,
                    False, pasted, geo, work.scratch, grad_rows=grad_rows,
                    value_panels=value_panels[images], d_pixel=d_pixel,
                )  # fmt: skip
            grads.add_values(images, grad_rows, pasted)
            grads.add_scores(images, halo, query_rows, keys[images], d_pixel)
        return (*grads.result(need_s), None, None, None)


def inverse_key_norms(key: Tensor, patch_size: int) -> Tensor:
    """``1 / max(||key patch||_2, 1e-4)`` at every position of ``key`` [B, c, h, w] -> [B, h, w]
    (zero-padded k x k patches, as the faithful implementation's unfold)."""
    energy = key.pow(2).sum(dim=1, keepdim=True)
    box = energy.new_ones(1, 1, patch_size, patch_size)
    norms = F.conv2d(energy, box, padding=patch_size // 2).sqrt()
    return norms.clamp_min(KEY_NORM_EPS).reciprocal()[:, 0]


_inverse_key_norms = inverse_key_norms  # the earlier private name


def _use_native(native: bool | None, like: Tensor, patch_size: int) -> bool:
    """Resolve the ``native`` option of ``fast_attention`` for tensors like ``like``."""
    supported = like.device.type == "cpu" and like.dtype in (torch.float32, torch.float64)
    if native is None:
        return supported and patch_size <= NATIVE_MAX_PATCH and native_library() is not None
    if native and not supported:
        raise ValueError(
            f"native kernels need float32/float64 CPU tensors, got {like.dtype} on "
            f"{like.device}; pass native=False or None"
        )
    if native and patch_size > NATIVE_MAX_PATCH:
        raise ValueError(
            f"native kernels handle patches up to {NATIVE_MAX_PATCH}, got {patch_size}; "
            "pass native=False or None"
        )
    if native and native_library() is None:
        raise RuntimeError("native kernels could not be compiled; pass native=False or None")
    return bool(native)


def _default_block_elements(
    query: Tensor, keys: Sequence[Tensor], values: Sequence[Tensor], queries: int, buffers: int
) -> int:
    """Block budget of ``fast_attention`` when the caller gives none, for a path holding
    ``buffers`` block buffers in forward (see ``INFERENCE_SHARE``)."""
    tensors = [query, *keys, *values]
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return DEFAULT_BLOCK_ELEMENTS
    score_map = queries * sum(key.shape[2] * key.shape[3] for key in keys)
    return max(DEFAULT_BLOCK_ELEMENTS, score_map // (INFERENCE_SHARE * buffers))


def _pad_flat(feature: Tensor, pad: int) -> Tensor:
    """[B, C, h, w] -> zero-padded and flattened [B, C, (h + 2p) * (w + 2p)]."""
    return F.pad(feature, (pad,) * 4).flatten(2)


def _attend(
    query: Tensor,
    keys: Sequence[Tensor],
    values: Sequence[Tensor],
    *,
    patch_size: int,
    softmax_scale: float,
    hard: bool,
    block_elements: int | None = None,
    native: bool | None = None,
    layout: OutputLayout | None = None,
) -> tuple[Tensor, BlockGeometry]:
    """Check the inputs, choose the blocks and run the attention Function: its output (the
    padded grid, or ``layout``'s output) and the geometry used."""
    check_attention_inputs(query, keys, values, patch_size)
    if block_elements is not None and block_elements < 1:
        raise ValueError(f"block_elements must be positive, got {block_elements}")
    pad = patch_size // 2
    batch, _, height, width = query.shape
    level_sizes = tuple((int(key.shape[2]), int(key.shape[3])) for key in keys)
    total_keys = sum((h + 2 * pad) * (w + 2 * pad) for h, w in level_sizes)
    native = _use_native(native, query, patch_size)
    if block_elements is None:
        buffers = 1 if native and not hard else 4  # pasted only, or also scores and weights
        block_elements = _default_block_elements(query, keys, values, height * width, buffers)
    block_rows, block_images = _choose_blocks(
        batch, height, width + 2 * pad, pad, total_keys, block_elements
    )
    geo = BlockGeometry(
        pad=pad,
        height=height,
        width=width,
        level_sizes=level_sizes,
        softmax_scale=float(softmax_scale),
        hard=bool(hard),
        block_rows=block_rows,
        block_images=block_images,
    )
    scale = torch.cat(
        [_pad_flat(inverse_key_norms(key, patch_size).unsqueeze(1), pad)[:, 0] for key in keys],
        dim=1,
    ) * float(softmax_scale)
    out = _FastPyramidAttention.apply(
        _pad_flat(query, pad).contiguous(),
        _concat_levels([_pad_flat(key, pad) for key in keys]),
        _concat_levels([_pad_flat(value, pad) for value in values]),
        scale.contiguous(),
        geo,
        native,
        layout,
    )
    return out, geo


def _concat_levels(parts: list[Tensor]) -> Tensor:
    """The levels' padded maps concatenated along the key axis (no copy for one level)."""
    return parts[0].contiguous() if len(parts) == 1 else torch.cat(parts, dim=2).contiguous()


def fast_attention(
    query: Tensor,
    keys: Sequence[Tensor],
    values: Sequence[Tensor],
    *,
    patch_size: int,
    softmax_scale: float,
    hard: bool,
    block_elements: int | None = None,
    native: bool | None = None,
) -> Tensor:
    """Pyramid attention output (without the residual), computed by the exact fast form.

    Same result and gradients as ``panet.attention.faithful.faithful_attention``, which
    documents ``query``, ``keys``, ``values``, ``patch_size``, ``softmax_scale`` and ``hard``
    (with ``hard`` no gradient reaches the query or the keys, as there). Returns ``[B, C, H, W]``.

    Args:
        block_elements: approximate size of one block buffer (elements); bounds peak memory.
            None: ``DEFAULT_BLOCK_ELEMENTS``, or, when no gradient is needed, a share of
            one image's score map if that is larger (see ``INFERENCE_SHARE``).
        native: use the compiled C kernels (True), the pure-PyTorch path (False), or the
            kernels when they compile and the tensors are float32/float64 on CPU (None).
    """
    pasted, geo = _attend(
        query,
        keys,
        values,
        patch_size=patch_size,
        softmax_scale=softmax_scale,
        hard=hard,
        block_elements=block_elements,
        native=native,
    )
    pad, height, width = geo.pad, geo.height, geo.width
    grid = pasted.view(query.shape[0], height + 2 * pad, width + 2 * pad, -1)
    grid = grid[:, pad : pad + height, pad : pad + width].permute(0, 3, 1, 2)
    return grid / OUTPUT_DIVISOR


def fast_attention_into(
    layout: OutputLayout, query: Tensor, keys: Sequence[Tensor], values: Sequence[Tensor], **options
) -> Tensor:
    """``fast_attention``'s pasted values written by ``layout`` (its output, with gradients),
    not divided by ``OUTPUT_DIVISOR``; ``options`` are ``fast_attention``'s keywords."""
    out, _ = _attend(query, keys, values, layout=layout, **options)
    return out
