"""Fast exact pyramid attention: the same function as ``panet.attention.faithful``, less work,
in memory set by a budget rather than by the image.

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

Memory (``panet.attention.tiling``). The work runs in blocks of query rows (a halo of ``p``
rows on each side for the box sums) and, when a few rows of all keys would not fit the budget
(``panet.attention.budget``: 512 MiB on a CPU by default), in tiles of whole key rows; the
softmax stays joint over all keys (with several tiles, a first pass gathers each query's
log-sum-exp over the tiles, a second pastes ``exp(s - lse)``). Small images are batched into
one block. A custom autograd Function saves only its (small) inputs and each query's
log-sum-exp (hard attention with several tiles: its best score) and recomputes each block in
backward, so no score-sized buffer outlives its block, forward or backward; with several tiles
backward first sums ``A dA`` per query over the tiles (the softmax's row term), then computes
the gradients tile by tile.

Native path. Between the matmuls on the block's outputs (the paste with the values, the
gradients of values, query and keys, left to BLAS) one C pass per block and tile does the rest
from the matmuls' inputs: it computes the pixel scores itself in register tiles into a ring of
rows, the weights (or, in backward, their gradient) into a second ring, and writes only the
pasted rows (backward: also dL/d pixel scores), so no score-sized buffer is written and read
back between the steps (``panet.attention.native``). Hard attention and the pure-PyTorch path
(any device: the accelerators' bounded path) store the scores and weights of a block in
between.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from panet.attention.budget import memory_budget_bytes, over_budget_message
from panet.attention.faithful import KEY_NORM_EPS, OUTPUT_DIVISOR, check_attention_inputs
from panet.attention.native import (
    NATIVE_MAX_PATCH,
    key_panels,
    native_box,
    native_library,
    native_paste_stream,
    native_weights,
    paste_stream_scratch,
)
from panet.attention.precision import float32_products
from panet.attention.tiling import BlockPlan, BufferModel, KeyTile, plan_blocks
from panet.attention.workspace import kept_buffer
from panet.stop import check_stop

#: Largest block buffer (elements) on the CPU, whatever the budget allows: one buffer of the
#: training shape (48x48, 5 levels) holds 21M, so training runs one image per block. Larger
#: blocks stop paying once a block fills the caches and the threads; smaller ones add
#: recomputed halo rows and, above all, many more small parallel regions, whose thread
#: synchronisation is costly on a busy machine. Forward-only calls take what the budget allows.
DEFAULT_BLOCK_ELEMENTS = 1 << 25
#: Columns (keys) per GEMM when a block's score-sized product has a small inner dimension
#: (the c = 32 pixel scores, the C = 64 gradient of the paste; on the hard and pure-PyTorch
#: paths, the native soft path computes these itself): MKL writes a [rows, L] output
#: with long rows about half as fast as it writes [rows, 512] pieces, even counting the copy
#: of each piece into place (measured at the 48x48 training block and the inference tiles,
#: 1 and 2 threads: 1.8-2.4x on those GEMMs).
WIDE_GEMM_COLUMNS = 512
#: Score-sized buffers a block holds at once on the stepwise paths (hard attention, pure
#: PyTorch): pixel scores, box-sum scratch, raw scores, weights, and one more in backward.
STEPWISE_BUFFERS = 5


@dataclass(frozen=True)
class BlockGeometry:
    """Sizes of the padded, flattened layouts and the blocks and tiles of one call."""

    pad: int
    height: int  # query grid H (interior)
    width: int  # query grid W (interior)
    level_sizes: tuple[tuple[int, int], ...]  # interior (Hl, Wl) per level
    softmax_scale: float
    hard: bool
    block_rows: int  # interior query rows per block
    block_images: int  # images per block
    tiles: tuple[KeyTile, ...]  # key tiles (one holding every key when they fit)

    @property
    def padded_width(self) -> int:
        return self.width + 2 * self.pad

    @property
    def padded_height(self) -> int:
        return self.height + 2 * self.pad

    @property
    def total_keys(self) -> int:
        return self.tiles[-1].stop

    @property
    def tiled(self) -> bool:
        """Whether the keys come in several tiles (two passes per block)."""
        return len(self.tiles) > 1

    @property
    def max_tile(self) -> int:
        return max(tile.length for tile in self.tiles)


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
    finite value would do) unless ``exact_rims`` asks for them to be summed tap by tap (a
    paste's halo rows are real output rows, and the halo key rows of a key tile real keys).
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
    rim(src, dst, taps, (q0, q1), (0, k0))
    rim(src, dst, taps, (q0, q1), (k1, n_key))


def _zero_region(src: Tensor, dst: Tensor, taps, q_rng, k_rng) -> None:
    """Zero ``dst`` on ``q_rng x k_rng`` (same signature as ``_add_taps``)."""
    (q0, q1), (k0, k1) = q_rng, k_rng
    if q1 > q0 and k1 > k0:
        dst[:, q0:q1, k0:k1].zero_()


def _diagonal_box(
    src: Tensor, out: Tensor, partial: Tensor, geo: BlockGeometry, tile: KeyTile, row_offset: int
) -> Tensor:
    """k x k box sum along the diagonal into ``out`` [n, rows_out * Wq, Lt]:
    ``out[q, k] = sum_o src[q + row_offset * Wq + o_q, k + o_k]`` (``src`` zero outside its
    rows and outside each level part of ``tile``), exact wherever ``q`` and ``k`` are real
    (unpadded) positions with every tap inside the tile; ``partial`` is scratch of ``out``'s
    shape. Row shifts depend on each level's key-grid width, so they run level by level;
    column shifts are (+1, +1) for every level and run on all keys at once."""
    wq, pad = geo.padded_width, geo.pad
    for start, length, key_width in tile.spans:
        s = slice(start, start + length)
        _shift_sum(
            src[:, :, s], partial[:, :, s], wq, key_width, row_offset * wq, pad, row_offset < 0
        )
    _shift_sum(partial, out, 1, 1, 0, pad, False)
    return out


def key_bias(geo: BlockGeometry, like: Tensor) -> Tensor:
    """[L_total]: 0 at real keys, -inf at padded ones (weight exactly zero)."""
    parts = []
    for h, w in geo.level_sizes:
        inside = torch.zeros(h, w, dtype=like.dtype, device=like.device)
        parts.append(F.pad(inside, (geo.pad,) * 4, value=float("-inf")).flatten())
    return torch.cat(parts)


def tile_bias(bias: Tensor, tile: KeyTile) -> Tensor:
    """[tile keys] of ``key_bias``, also -inf at the tile's halo rows (their weight is exactly
    zero here; the tile that owns them scores them)."""
    part = bias[tile.start : tile.stop].clone()
    part[: tile.own_start - tile.start] = float("-inf")
    part[tile.own_stop - tile.start :] = float("-inf")
    return part


class _Workspace:
    """Block-sized scratch buffers of one call, reused by every block and tile (and, on the
    CPU, kept for the next call: ``panet.attention.workspace``)."""

    def __init__(self, like: Tensor, geo: BlockGeometry) -> None:
        self.geo, self.like = geo, like

    def get(self, index: int, images: int, rows: int, keys: int) -> Tensor:
        """Buffer ``index`` viewed as [images, rows * Wq, keys]."""
        halo_rows = self.geo.block_rows + 2 * self.geo.pad
        size = self.geo.block_images * halo_rows * self.geo.padded_width * self.geo.max_tile
        shape = (images, rows * self.geo.padded_width, keys)
        buffer = kept_buffer(self.like, f"block{index}", size)
        return buffer[: images * shape[1] * shape[2]].view(shape)

    def scratch(self, elements: int) -> Tensor:
        """A flat buffer of at least ``elements`` (the native pass's rings)."""
        return kept_buffer(self.like, "rings", elements)

    def wide_bmm(self, a: Tensor, b: Tensor, out: Tensor) -> Tensor:
        """``out = a @ b`` [n, M, L] for a small inner dimension (c or C) and all the keys:
        on the CPU in column chunks of ``WIDE_GEMM_COLUMNS`` through a contiguous scratch."""
        n, rows, width = out.shape
        if out.device.type != "cpu" or width <= 2 * WIDE_GEMM_COLUMNS:
            return torch.bmm(a, b, out=out)
        columns = kept_buffer(self.like, "columns", n * rows * WIDE_GEMM_COLUMNS)
        for start in range(0, width, WIDE_GEMM_COLUMNS):
            stop = min(width, start + WIDE_GEMM_COLUMNS)
            part = columns[: n * rows * (stop - start)].view(n, rows, stop - start)
            torch.bmm(a, b[:, :, start:stop], out=part)
            out[:, :, start:stop].copy_(part)
        return out


def _zero_padded_queries(weights: Tensor, geo: BlockGeometry) -> None:
    """Zero the weights of padded query columns [n, rows * Wq, L] (they paste nothing)."""
    if geo.pad:
        grid = weights.view(weights.shape[0], -1, geo.padded_width, weights.shape[2])
        grid[:, :, : geo.pad].zero_()
        grid[:, :, geo.pad + geo.width :].zero_()


@dataclass
class _Tile:
    """One key tile of one block: its keys [n, c, Lt], packed panels (streamed native path),
    score scales [n, Lt] and bias [Lt]."""

    tile: KeyTile
    keys: Tensor
    panels: Tensor | None
    scale: Tensor
    bias: Tensor

    @property
    def span(self) -> slice:
        return slice(self.tile.start, self.tile.stop)

    @property
    def length(self) -> int:
        return self.tile.length


class _Tiles:
    """The key tiles of one call, with what every block reuses (bias, packed panels)."""

    def __init__(
        self,
        keys: Tensor,
        values: Tensor,
        scale: Tensor,
        geo: BlockGeometry,
        packed: bool,
        value_panels: bool,
    ) -> None:
        self.geo, self.keys, self.scale = geo, keys, scale
        bias = key_bias(geo, keys)
        self.bias = [tile_bias(bias, tile) for tile in geo.tiles]
        # packed once per call (not per block): a copy of the keys' size
        self.panels = (
            [key_panels(keys[:, :, t.start : t.stop]) for t in geo.tiles] if packed else None
        )
        self.value_panels = (
            [key_panels(values[:, :, t.start : t.stop]) for t in geo.tiles]
            if value_panels
            else None
        )

    def __len__(self) -> int:
        return len(self.geo.tiles)

    def of(self, index: int, images: slice) -> _Tile:
        tile = self.geo.tiles[index]
        span = slice(tile.start, tile.stop)
        return _Tile(
            tile,
            self.keys[images, :, span],
            None if self.panels is None else self.panels[index][images],
            self.scale[images, span].contiguous(),
            self.bias[index],
        )

    def values_of(self, index: int, images: slice) -> Tensor | None:
        return None if self.value_panels is None else self.value_panels[index][images]


def _scores(
    query_rows: Tensor, part: _Tile, geo: BlockGeometry, rows: int, work: _Workspace, lib
) -> tuple[Tensor, Tensor]:
    """Raw box-summed scores (slot 2) and scaled scores with the tile's bias (slot 1) of one
    block and tile, [n, rows * Wq, Lt]; the pixel scores go through slot 0."""
    n, halo_rows, lt = query_rows.shape[0], rows + 2 * geo.pad, part.length
    pixel = work.wide_bmm(query_rows.transpose(1, 2), part.keys, work.get(0, n, halo_rows, lt))
    raw = work.get(2, n, rows, lt)
    if lib is None:
        _diagonal_box(pixel, raw, work.get(1, n, rows, lt), geo, part.tile, geo.pad)
    else:
        native_box(lib, pixel, raw, geo, part.tile, geo.pad)
    scores = torch.addcmul(part.bias, raw, part.scale.unsqueeze(1), out=work.get(1, n, rows, lt))
    return raw, scores


def _block_weights(
    query_rows: Tensor,
    part: _Tile,
    geo: BlockGeometry,
    rows: int,
    work: _Workspace,
    lib,
    stat: Tensor | None,
) -> Tensor:
    """Attention weights ``A`` of one block and tile, [n, rows * Wq, Lt] in the padded layout
    (zero at padded queries and keys) in slot 3, stored step by step (hard attention, the
    eager path). ``query_rows`` [n, c, (rows + 2p) * Wq] (the block's rows plus halo).

    One tile: the softmax over the row (native: its log-sum-exp to ``stat`` [n, rows * Wq]),
    then, for hard attention, the one-hot of the row's maximum weight. Several tiles:
    ``exp(s - stat)`` with ``stat`` each query's log-sum-exp over all tiles, or, hard, the
    one-hot of the scores equal to ``stat``, each query's best score over all tiles.
    """
    n, halo_rows, lt = query_rows.shape[0], rows + 2 * geo.pad, part.length
    weights = work.get(3, n, rows, lt)
    if geo.tiled:
        _, scores = _scores(query_rows, part, geo, rows, work, lib)
        if geo.hard:
            weights.copy_(scores == stat.unsqueeze(-1))
        else:
            torch.sub(scores, stat.unsqueeze(-1), out=weights).exp_()
        _zero_padded_queries(weights, geo)
        return weights
    if lib is None:
        _, scores = _scores(query_rows, part, geo, rows, work, None)
        torch.ops.aten._softmax.out(scores, -1, False, out=weights)
        _zero_padded_queries(weights, geo)
    else:
        pixel = work.wide_bmm(query_rows.transpose(1, 2), part.keys, work.get(0, n, halo_rows, lt))
        native_weights(lib, pixel, weights, part.scale, part.bias, stat, geo, part.tile)
    if geo.hard:
        weights.copy_(weights == weights.amax(dim=-1, keepdim=True))
        _zero_padded_queries(weights, geo)
    return weights


def _paste(
    weights: Tensor, out: Tensor, partial: Tensor | None, geo: BlockGeometry, tile: KeyTile, lib
) -> Tensor:
    """Adjoint box sum ``B[p, j] = sum_o A[p - o, j - o]`` of a block's weights
    [n, rows * Wq, Lt] onto its rows plus halo, ``out`` [n, (rows + 2p) * Wq, Lt]."""
    if lib is None:
        return _diagonal_box(weights, out, partial, geo, tile, -geo.pad)
    native_box(lib, weights, out, geo, tile, -geo.pad)
    return out


def _blocks(geo: BlockGeometry, batch: int) -> Iterator[tuple[slice, int, int]]:
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
    part: _Tile,
    geo: BlockGeometry,
    rows: int,
    work: _Workspace,
    lib,
    stat: Tensor | None,
    stat_known: bool,
) -> Tensor:
    """The adjoint box sum of one block's attention weights over one tile onto its rows plus
    halo, [n, (rows + 2p) * Wq, Lt] in workspace slot 1. With panels (the streamed native pass)
    the pixel scores and the weights are computed row by row into the paste, using the
    log-sum-exp ``stat`` when ``stat_known`` (else writing it); otherwise (hard attention, the
    eager path) they are stored first (``_block_weights``)."""
    n, halo_rows, lt = query_rows.shape[0], rows + 2 * geo.pad, part.length
    pasted = work.get(1, n, halo_rows, lt)
    if part.panels is None:
        weights = _block_weights(query_rows, part, geo, rows, work, lib, stat)
        return _paste(weights, pasted, work.get(0, n, halo_rows, lt), geo, part.tile, lib)
    native_paste_stream(
        lib, query_rows, part.panels, part.scale, part.bias, stat, not stat_known, pasted, geo,
        part.tile, work.scratch,
    )  # fmt: skip
    return pasted


def _block_stat(
    query_rows: Tensor,
    tiles: _Tiles,
    images: slice,
    geo: BlockGeometry,
    rows: int,
    work: _Workspace,
    lib,
    stat: Tensor,
) -> None:
    """First pass over the tiles of a block: each query's log-sum-exp over every key (hard:
    its best score) into ``stat`` [n, rows * Wq]."""
    stat.fill_(float("-inf"))
    part_stat = torch.empty_like(stat)
    for index in range(len(tiles)):
        part = tiles.of(index, images)
        if part.panels is not None:
            native_paste_stream(
                lib, query_rows, part.panels, part.scale, part.bias, part_stat, True, None, geo,
                part.tile, work.scratch,
            )  # fmt: skip
        else:
            _, scores = _scores(query_rows, part, geo, rows, work, lib)
            if geo.hard:
                torch.amax(scores, dim=-1, out=part_stat)
            else:
                torch.logsumexp(scores, dim=-1, out=part_stat)
        if geo.hard:
            torch.maximum(stat, part_stat, out=stat)
        else:
            torch.logaddexp(stat, part_stat, out=stat)


def _eager_weight_grads(
    pixel: Tensor,
    d_pasted: Tensor,
    part: _Tile,
    geo: BlockGeometry,
    rows: int,
    work: _Workspace,
    lse: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Pure-PyTorch weights of one block and tile and dL/d weights from its pixel scores
    (slot 0) and dL/d pasted weights (slot 1), both [n, (rows + 2p) * Wq, Lt]: (raw scores in
    slot 2, weights in slot 3, their gradient in slot 4), each [n, rows * Wq, Lt]. The weights
    are the row's softmax (one tile) or ``exp(s - lse)`` (several)."""
    n, lt = pixel.shape[0], part.length
    raw, weights = work.get(2, n, rows, lt), work.get(3, n, rows, lt)
    _diagonal_box(pixel, raw, work.get(4, n, rows, lt), geo, part.tile, geo.pad)
    scores = torch.addcmul(part.bias, raw, part.scale.unsqueeze(1), out=work.get(4, n, rows, lt))
    if lse is None:
        torch.ops.aten._softmax.out(scores, -1, False, out=weights)
    else:
        torch.sub(scores, lse.unsqueeze(-1), out=weights).exp_()
    _zero_padded_queries(weights, geo)
    d_weights = _diagonal_box(
        d_pasted, work.get(4, n, rows, lt), work.get(0, n, rows, lt), geo, part.tile, geo.pad
    )
    return raw, weights, d_weights


def _eager_products(
    query_rows: Tensor,
    grad_rows: Tensor,
    values: Tensor,
    part: _Tile,
    rows: int,
    work: _Workspace,
    geo: BlockGeometry,
) -> tuple[Tensor, Tensor]:
    """Pixel scores (slot 0) and dL/d pasted weights ``<grad_out[p], θ[j]>`` (slot 1) of one
    block and tile, [n, (rows + 2p) * Wq, Lt]."""
    n, halo_rows, lt = query_rows.shape[0], rows + 2 * geo.pad, part.length
    pixel = work.wide_bmm(query_rows.transpose(1, 2), part.keys, work.get(0, n, halo_rows, lt))
    d_pasted = work.wide_bmm(grad_rows, values, work.get(1, n, halo_rows, lt))
    return pixel, d_pasted


def _eager_scores_backward(
    pixel: Tensor,
    d_pasted: Tensor,
    part: _Tile,
    geo: BlockGeometry,
    rows: int,
    work: _Workspace,
    lse: Tensor | None,
    row_dot: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Pure-PyTorch backward of one block and tile (see ``_eager_weight_grads``): the pasted
    weights and dL/d pixel scores (slots 0 and 1, [n, (rows + 2p) * Wq, Lt]) and the scale's
    gradient [n, Lt]. ``row_dot``: each query's ``sum_k A dA`` over all tiles (several tiles;
    one tile sums its own row)."""
    n, halo_rows, lt = pixel.shape[0], rows + 2 * geo.pad, part.length
    raw, weights, d_weights = _eager_weight_grads(pixel, d_pasted, part, geo, rows, work, lse)
    # softmax backward, in place: dS = A * (dA - sum_j A dA)
    d_weights.mul_(weights)
    total = d_weights.sum(dim=-1, keepdim=True) if row_dot is None else row_dot.unsqueeze(-1)
    d_weights.addcmul_(weights, total, value=-1.0)
    d_scale = raw.mul_(d_weights).sum(dim=1)
    d_weights.mul_(part.scale.unsqueeze(1))  # now d loss / d raw scores
    scratch = work.get(2, n, halo_rows, lt)
    pasted = _paste(weights, work.get(0, n, halo_rows, lt), scratch, geo, part.tile, None)
    return (
        pasted,
        _paste(d_weights, work.get(1, n, halo_rows, lt), scratch, geo, part.tile, None),
        d_scale,
    )


class _InputGrads:
    """The attention Function's input gradients, accumulated block by block and tile by tile
    as [B, positions, channels] (BLAS writes these [L, c] and [L, C] products about 1.5x faster
    than [c, L] ones at the training shape) and handed back as views in the inputs'
    [B, channels, positions] layout."""

    def __init__(self, query: Tensor, keys: Tensor, values: Tensor, scale: Tensor, needs) -> None:
        need_q, need_k, need_v, need_scores = needs

        def zeros(like: Tensor, wanted: bool) -> Tensor | None:
            return like.new_zeros(like.shape[0], like.shape[2], like.shape[1]) if wanted else None

        self.query, self.keys = zeros(query, need_q), zeros(keys, need_k)
        self.values = zeros(values, need_v)
        self.scale = torch.zeros_like(scale) if need_scores else None

    def add_values(self, images: slice, part: _Tile, grad_rows: Tensor, pasted: Tensor) -> None:
        """The values' share of one block and tile: pasted^T [Lt, Q] @ dL/d out [Q, C]."""
        if self.values is not None:
            self.values[images, part.span].baddbmm_(pasted.transpose(1, 2), grad_rows)

    def add_scores(
        self,
        images: slice,
        halo: slice,
        part: _Tile,
        query_rows: Tensor,
        d_pixel: Tensor,
        d_scale: Tensor,
    ) -> None:
        """The query's, keys' and scales' share of one block and tile from dL/d pixel scores
        [n, Q, Lt] and dL/d scale [n, Lt]."""
        if self.query is not None:
            self.query[images, halo].baddbmm_(d_pixel, part.keys.transpose(1, 2))
        if self.keys is not None:
            self.keys[images, part.span].baddbmm_(
                d_pixel.transpose(1, 2), query_rows.transpose(1, 2)
            )
        self.scale[images, part.span] += d_scale

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
    query grid, ``[B, (H+2p) * (W+2p), C]`` (not yet divided by 4 nor cropped). Forward also
    keeps each query's softmax log-sum-exp (``[B, H * (W+2p)]``, tiny) on the native path and
    whenever the keys come in several tiles (hard attention: each query's best score), so that
    backward gets the weights without normalizing them again.
    """

    @staticmethod
    def forward(ctx, query, keys, values, scale, geo: BlockGeometry, native: bool, layout=None):  # noqa: D102
        with float32_products(query.device):
            return _FastPyramidAttention._forward(
                ctx, query, keys, values, scale, geo, native, layout
            )

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        with float32_products(grad_out.device):
            return _FastPyramidAttention._backward(ctx, grad_out)

    @staticmethod
    def _forward(ctx, query, keys, values, scale, geo: BlockGeometry, native: bool, layout):
        batch, wq = query.shape[0], geo.padded_width
        lib = native_library() if native else None
        streams = _streams(native, geo)
        tiles = _Tiles(keys, values, scale, geo, packed=streams, value_panels=False)
        values_t = values.transpose(1, 2)  # [B, L, C]
        if layout is None:
            out = query.new_zeros(batch, geo.padded_height * wq, values.shape[1])
        else:
            out = layout.new_output(query, batch, values.shape[1])
        block_out = _block_rows_buffer(query, geo, values.shape[1]) if layout or geo.tiled else None
        # blocks hold either whole images or rows of one image, so stat slices are contiguous
        keeps_stat = native or geo.tiled
        stats = query.new_empty(batch, geo.height * wq) if keeps_stat else None
        work = _Workspace(query, geo)
        for images, r0, rows in _blocks(geo, batch):
            check_stop()  # a signal stops a whole-image call between blocks, not at its end
            n, halo_rows = images.stop - images.start, rows + 2 * geo.pad
            halo = slice(r0 * wq, (r0 + halo_rows) * wq)
            query_rows = query[images, :, halo]
            stat = None if stats is None else stats[images, r0 * wq : (r0 + rows) * wq]
            if geo.tiled:
                _block_stat(query_rows, tiles, images, geo, rows, work, lib, stat)
            block = None if block_out is None else block_out[:n, : halo.stop - halo.start]
            for index in range(len(tiles)):
                part = tiles.of(index, images)
                pasted = _block_pasted(query_rows, part, geo, rows, work, lib, stat, geo.tiled)
                values_part = values_t[images, part.span]
                if block is None:
                    out[images, halo].baddbmm_(pasted, values_part)
                elif index == 0:
                    torch.bmm(pasted, values_part, out=block)
                else:
                    block.baddbmm_(pasted, values_part)
            if layout is not None:
                layout.add_block(out, block, images, r0)
            elif block is not None:
                out[images, halo] += block
        ctx.geo, ctx.native, ctx.stats, ctx.layout = geo, native, stats, layout
        ctx.save_for_backward(query, keys, values, scale)
        return out

    @staticmethod
    def _backward(ctx, grad_out):
        geo: BlockGeometry = ctx.geo
        lib = native_library() if ctx.native else None
        query, keys, values, scale = ctx.saved_tensors
        need_q, need_k, need_v, need_s = ctx.needs_input_grad[:4]
        need_scores = (need_q or need_k or need_s) and not geo.hard
        batch, wq = query.shape[0], geo.padded_width
        layout = ctx.layout
        if layout is None:
            grad_out = grad_out.contiguous()
        else:
            grad_block = _block_rows_buffer(query, geo, values.shape[1])
        needs = (need_scores and need_q, need_scores and need_k, need_v, need_scores)
        grads = _InputGrads(query, keys, values, scale, needs)
        work = _Workspace(query, geo)
        streams = _streams(ctx.native, geo)
        tiles = _Tiles(
            keys, values, scale, geo, packed=streams, value_panels=streams and need_scores
        )
        for images, r0, rows in _blocks(geo, batch):
            check_stop()
            n, halo_rows = images.stop - images.start, rows + 2 * geo.pad
            halo = slice(r0 * wq, (r0 + halo_rows) * wq)
            query_rows = query[images, :, halo]
            if layout is None:
                grad_rows = grad_out[images, halo]
            else:
                grad_rows = layout.gather_block(
                    grad_out, grad_block[:n, : halo.stop - halo.start], images, r0
                )
            stats = ctx.stats
            stat = None if stats is None else stats[images, r0 * wq : (r0 + rows) * wq]
            if not need_scores:
                if need_v:
                    for index in range(len(tiles)):
                        part = tiles.of(index, images)
                        pasted = _block_pasted(query_rows, part, geo, rows, work, lib, stat, True)
                        grads.add_values(images, part, grad_rows, pasted)
                continue
            row_dot = None
            if geo.tiled:  # first pass: each query's sum_k A dA over every tile
                row_dot = torch.zeros_like(stat)
                for index in range(len(tiles)):
                    part = tiles.of(index, images)
                    _block_row_dot(
                        query_rows,
                        grad_rows,
                        values,
                        tiles,
                        index,
                        images,
                        part,
                        geo,
                        rows,
                        work,
                        lib,
                        stat,
                        row_dot,
                    )
            for index in range(len(tiles)):
                part = tiles.of(index, images)
                if lib is None:
                    pixel, d_pasted = _eager_products(
                        query_rows, grad_rows, values[images, :, part.span], part, rows, work, geo
                    )
                    pasted, d_pixel, d_scale = _eager_scores_backward(
                        pixel, d_pasted, part, geo, rows, work, stat if geo.tiled else None, row_dot
                    )
                else:
                    # one native pass from the matmuls' inputs: the pixel scores, the weights and
                    # their gradients are computed row by row into the two pastes, never stored
                    pasted = work.get(0, n, halo_rows, part.length)
                    d_pixel = work.get(1, n, halo_rows, part.length)
                    d_scale = native_paste_stream(
                        lib, query_rows, part.panels, part.scale, part.bias, stat, False, pasted,
                        geo, part.tile, work.scratch, grad_rows=grad_rows,
                        value_panels=tiles.values_of(index, images), d_pixel=d_pixel,
                        dot_in=row_dot,
                    )  # fmt: skip
                grads.add_values(images, part, grad_rows, pasted)
                grads.add_scores(images, halo, part, query_rows, d_pixel, d_scale)
        return (*grads.result(need_s), None, None, None)


def _block_row_dot(
    query_rows: Tensor,
    grad_rows: Tensor,
    values: Tensor,
    tiles: _Tiles,
    index: int,
    images: slice,
    part: _Tile,
    geo: BlockGeometry,
    rows: int,
    work: _Workspace,
    lib,
    lse: Tensor,
    row_dot: Tensor,
) -> None:
    """Add one tile's ``sum_k A dA`` per query of a block to ``row_dot`` [n, rows * Wq] (the
    first backward pass when the keys come in several tiles)."""
    if lib is None:
        pixel, d_pasted = _eager_products(
            query_rows, grad_rows, values[images, :, part.span], part, rows, work, geo
        )
        _, weights, d_weights = _eager_weight_grads(pixel, d_pasted, part, geo, rows, work, lse)
        row_dot += d_weights.mul_(weights).sum(dim=-1)
        return
    native_paste_stream(
        lib, query_rows, part.panels, part.scale, part.bias, lse, False, None, geo, part.tile,
        work.scratch, grad_rows=grad_rows, value_panels=tiles.values_of(index, images),
        dot_out=row_dot,
    )  # fmt: skip


def inverse_key_norms(key: Tensor, patch_size: int) -> Tensor:
    """``1 / max(||key patch||_2, 1e-4)`` at every position of ``key`` [B, c, h, w] -> [B, h, w]
    (zero-padded k x k patches, as the faithful implementation's unfold)."""
    energy = key.pow(2).sum(dim=1, keepdim=True)
    box = energy.new_ones(1, 1, patch_size, patch_size)
    norms = F.conv2d(energy, box, padding=patch_size // 2).sqrt()
    return norms.clamp_min(KEY_NORM_EPS).reciprocal()[:, 0]


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


def _pad_flat(feature: Tensor, pad: int) -> Tensor:
    """[B, C, h, w] -> zero-padded and flattened [B, C, (h + 2p) * (w + 2p)]."""
    return F.pad(feature, (pad,) * 4).flatten(2)


def _needs_grad(tensors: Sequence[Tensor]) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def buffer_model(
    *, streams: bool, needs_grad: bool, device: torch.device, padded_width: int, pad: int,
    block_elements: int | None,
) -> BufferModel:  # fmt: skip
    """What one block of ``fast`` holds (``panet.attention.tiling.BufferModel``): on the
    streamed native path the paste (and in backward dL/d pixel scores) plus each thread's
    rings; on the stepwise paths ``STEPWISE_BUFFERS`` score-sized buffers. Blocks are capped at
    ``block_elements`` per buffer (default: ``DEFAULT_BLOCK_ELEMENTS`` for a CPU call with
    autograd, none otherwise)."""
    if block_elements is None and needs_grad and device.type == "cpu":
        block_elements = DEFAULT_BLOCK_ELEMENTS
    if not streams:
        return BufferModel(STEPWISE_BUFFERS, 0, block_elements)
    threads = torch.get_num_threads()
    per_key = threads * (paste_stream_scratch(padded_width, pad, needs_grad) + int(needs_grad))
    return BufferModel(2 if needs_grad else 1, per_key, block_elements)


def plan_fast(
    query: Tensor,
    keys: Sequence[Tensor],
    values: Sequence[Tensor],
    *,
    patch_size: int,
    hard: bool,
    native: bool | None = None,
    block_elements: int | None = None,
    memory_budget_mb: float | None = None,
    key_tile: int | None = None,
) -> BlockPlan:
    """The blocks and key tiles ``fast_attention`` would use for these inputs, and the working
    memory they hold (``BlockPlan.elements``, ``BlockPlan.fits``)."""
    pad = patch_size // 2
    batch, _, height, width = query.shape
    streams = _use_native(native, query, patch_size) and not hard
    model = buffer_model(
        streams=streams, needs_grad=_needs_grad([query, *keys, *values]), device=query.device,
        padded_width=width + 2 * pad, pad=pad, block_elements=block_elements,
    )  # fmt: skip
    budget = memory_budget_bytes(query.device, memory_budget_mb) // query.element_size()
    level_sizes = [(int(key.shape[2]), int(key.shape[3])) for key in keys]
    return plan_blocks(batch, height, width, level_sizes, pad, model, budget, key_tile)


@torch.compiler.disable  # ctypes kernels and in-place block buffers: run eagerly (a graph break)
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
    memory_budget_mb: float | None = None,
    key_tile: int | None = None,
    layout: OutputLayout | None = None,
) -> tuple[Tensor, BlockGeometry]:
    """Check the inputs, plan the blocks and tiles and run the attention Function: its output
    (the padded grid, or ``layout``'s output) and the geometry used."""
    check_attention_inputs(query, keys, values, patch_size)
    if block_elements is not None and block_elements < 1:
        raise ValueError(f"block_elements must be positive, got {block_elements}")
    native = _use_native(native, query, patch_size)
    plan = plan_fast(
        query, keys, values, patch_size=patch_size, hard=hard, native=native,
        block_elements=block_elements, memory_budget_mb=memory_budget_mb, key_tile=key_tile,
    )  # fmt: skip
    if not plan.fits:
        raise MemoryError(
            over_budget_message(
                "fast", query, plan.elements * query.element_size(), memory_budget_mb
            )
        )
    pad = patch_size // 2
    geo = BlockGeometry(
        pad=pad,
        height=int(query.shape[2]),
        width=int(query.shape[3]),
        level_sizes=tuple((int(key.shape[2]), int(key.shape[3])) for key in keys),
        softmax_scale=float(softmax_scale),
        hard=bool(hard),
        block_rows=plan.block_rows,
        block_images=plan.block_images,
        tiles=plan.tiles,
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
    memory_budget_mb: float | None = None,
    key_tile: int | None = None,
) -> Tensor:
    """Pyramid attention output (without the residual), computed by the exact fast form.

    Same result and gradients as ``panet.attention.faithful.faithful_attention``, which
    documents ``query``, ``keys``, ``values``, ``patch_size``, ``softmax_scale`` and ``hard``
    (with ``hard`` no gradient reaches the query or the keys, as there). Returns ``[B, C, H, W]``.

    Args:
        block_elements: largest block buffer (elements), a speed knob below the budget
            (default ``DEFAULT_BLOCK_ELEMENTS`` on the CPU with autograd, else the budget).
        native: use the compiled C kernels (True), the pure-PyTorch path (False), or the
            kernels when they compile and the tensors are float32/float64 on CPU (None).
        memory_budget_mb: working memory of the blocks and key tiles (MiB); None: the
            process's or the device's default (``panet.attention.budget``). MemoryError when
            even one key row per tile would not fit.
        key_tile: largest key tile (keys, halo rows included), a tuning and testing knob
            below the budget's choice; None: all keys at once when they fit.
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
        memory_budget_mb=memory_budget_mb,
        key_tile=key_tile,
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
