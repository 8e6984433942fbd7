"""``impl="triton"``: the pyramid attention as fused Triton kernels, exact, in bounded memory.

The kernels (``panet.attention.triton_kernels``) compute, per query, the softmax over every key
of every level and the weighted value of every tap of the patch (``U[i, o]``), flash-attention
style: key tiles stream through an online softmax, nothing score-sized is ever stored. Outside
them this module builds the neighbour tables (where each tap of each position lands on its
grid), folds the taps onto the output (``out[i + o] += U[i, o]``, ``torch.nn.functional.fold``)
and runs the backward passes: ``D[i] = sum_o <dL/d out[i + o], U[i, o]>`` (``U`` recomputed),
the queries' gradients and the keys' and values' gradients, each folded the same way. Queries
go in chunks of rows and keys in chunks of rows of one level, so the tap buffers (``k²`` times
a chunk of the output, or of the keys and values) stay within the memory budget.

Float32 in IEEE precision; TF32 products are opt-in (``PANET_ATTENTION_TF32=1``, about 1e-3
relative error: ``benchmarks/attention_precision.py`` measures it by emulation). Soft attention
only (``hard`` runs on ``fast``). Tested on the CPU under ``TRITON_INTERPRET=1`` against the
faithful implementation; GPU speed is measured by ``benchmarks/gpu_check.sh``.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from panet.attention.budget import memory_budget_bytes
from panet.attention.faithful import OUTPUT_DIVISOR, check_attention_inputs
from panet.attention.fast import inverse_key_norms
from panet.attention.precision import tf32_requested
from panet.stop import check_stop

#: Queries (and keys) per tile of the kernels.
BLOCK = 32
#: Largest value-channel chunk of one program (more channels: more programs, scores recomputed).
VALUE_CHANNELS = 64
#: Largest query/key embedding the kernels hold in registers per tap.
MAX_EMBED = 256


def interpret_mode() -> bool:
    """Whether Triton runs in its CPU interpreter (``TRITON_INTERPRET=1``: the tests)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def precision() -> str:
    """The kernels' product precision: ``"ieee"`` (exact float32), or ``"tf32"`` when
    ``PANET_ATTENTION_TF32=1`` asks for it (``panet.attention.precision``)."""
    return "tf32" if tf32_requested() else "ieee"


def unsupported_reasons(call) -> list[str]:
    """Why ``triton`` cannot run ``call`` (a ``dispatch.AttentionCall``), as sentences."""
    reasons = []
    if importlib.util.find_spec("triton") is None:
        reasons.append("Triton is not installed")
    if call.device.type != "cuda" and not (call.device.type == "cpu" and interpret_mode()):
        reasons.append(f"runs on CUDA (or the CPU under TRITON_INTERPRET=1), not {call.device}")
    if call.dtype != torch.float32:
        reasons.append(f"float32 only, got {call.dtype}")
    if call.hard:
        reasons.append("hard attention is not in the Triton kernels (impl=fast has it)")
    if call.query.shape[1] > MAX_EMBED:
        reasons.append(f"query/key embeddings up to {MAX_EMBED} channels")
    return reasons


def _pow2(value: int, least: int = 16) -> int:
    return max(least, 1 << max(0, value - 1).bit_length())


@dataclass(frozen=True)
class TapGroups:
    """The k² taps as one power-of-two group ``first`` and a padded second group ``second``
    (used when ``has_second``): k = 3 -> 8 + 1, k = 1 -> 1, k = 5 -> 16 + 16 (9 used)."""

    taps: int
    first: int
    second: int
    has_second: bool

    @classmethod
    def of(cls, patch_size: int) -> TapGroups:
        taps = patch_size * patch_size
        first = 1 << (taps.bit_length() - 1)
        rest = taps - first
        return cls(taps, first, _pow2(rest, least=1) if rest else 1, rest > 0)

    @property
    def width(self) -> int:
        """Columns of a neighbour table."""
        return self.first + self.second


def neighbour_table(
    sizes: Sequence[tuple[int, int]], patch_size: int, groups: TapGroups, device
) -> Tensor:
    """int32 [positions of all grids, ``groups.width``]: for tap ``o = (oy + p) * k + (ox + p)``
    the flat index (grids concatenated) of position ``(y + oy, x + ox)`` on its own grid, -1
    outside it and at padding taps."""
    pad = patch_size // 2
    tables, base = [], 0
    for h, w in sizes:
        y = torch.arange(h, device=device).view(h, 1).expand(h, w).reshape(-1)
        x = torch.arange(w, device=device).view(1, w).expand(h, w).reshape(-1)
        table = torch.full((h * w, groups.width), -1, dtype=torch.int32, device=device)
        for tap in range(groups.taps):
            oy, ox = tap // patch_size - pad, tap % patch_size - pad
            yy, xx = y + oy, x + ox
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            index = base + yy * w + xx
            table[:, tap] = torch.where(inside, index, torch.full_like(index, -1)).int()
        tables.append(table)
        base += h * w
    return torch.cat(tables)


def _fold_rows(taps: Tensor, grid: Tensor, row0: int, row1: int, patch_size: int) -> None:
    """Add ``taps`` [B, rows * W, k², ch] (the taps of grid rows ``row0 .. row1``) onto
    ``grid`` [B, ch, h, W] at position + tap (the adjoint of the gather), in place."""
    pad, (batch, count, kk, channels) = patch_size // 2, taps.shape
    width = grid.shape[-1]
    columns = taps.permute(0, 3, 2, 1).reshape(batch, channels * kk, count)
    rows = row1 - row0
    folded = F.fold(columns, (rows + 2 * pad, width), patch_size, padding=(0, pad))
    top, bottom = max(0, row0 - pad), min(grid.shape[2], row1 + pad)
    grid[:, :, top:bottom] += folded[:, :, top - (row0 - pad) : bottom - (row0 - pad)]


def _unfold_rows(grid: Tensor, row0: int, row1: int, patch_size: int) -> Tensor:
    """[B, ch * k², rows * W]: the k x k neighbourhood of every position of rows
    ``row0 .. row1`` of ``grid`` [B, ch, H, W] (zero outside), channel-major."""
    pad = patch_size // 2
    padded = F.pad(grid, (0, 0, pad, pad))[:, :, row0 : row1 + 2 * pad]
    return F.unfold(padded, patch_size, padding=(0, pad))


@dataclass(frozen=True)
class TritonGeometry:
    """Sizes and chunks of one call."""

    height: int
    width: int
    level_sizes: tuple[tuple[int, int], ...]
    patch_size: int
    query_rows: int  # rows of queries per chunk
    key_rows: int  # rows of one level's keys per chunk
    precision: str

    @property
    def groups(self) -> TapGroups:
        return TapGroups.of(self.patch_size)

    def query_chunks(self) -> Iterator[tuple[int, int]]:
        for row0 in range(0, self.height, self.query_rows):
            yield row0, min(self.height, row0 + self.query_rows)

    def key_chunks(self) -> Iterator[tuple[int, int, int, int]]:
        """(level, first key of the level, row0, row1) of every key chunk."""
        base = 0
        for level, (h, w) in enumerate(self.level_sizes):
            for row0 in range(0, h, self.key_rows):
                yield level, base, row0, min(h, row0 + self.key_rows)
            base += h * w


def plan_chunks(
    batch: int, embed: int, channels: int, height: int, width: int, level_sizes, patch_size: int,
    budget: int,
) -> tuple[int, int, int]:  # fmt: skip
    """(query rows per chunk, key rows per chunk, planned bytes): the neighbour tables and
    per-query statistics, then the tap buffers of a chunk (``k²`` values per position: ``U``
    and the queries' taps, or the keys' and values' taps) in half of what remains each."""
    kk = patch_size * patch_size
    positions = height * width + sum(h * w for h, w in level_sizes)
    tables = 4 * positions * TapGroups.of(patch_size).width + 8 * batch * height * width
    share = max(0, budget - tables) // 2
    row_bytes = 4 * batch * width * kk * (channels + embed)
    query_rows = max(1, min(height, share // row_bytes))
    widest = max(w for _, w in level_sizes)
    key_row_bytes = 4 * batch * widest * kk * (channels + embed)
    key_rows = max(1, min(max(h for h, _ in level_sizes), share // key_row_bytes))
    planned = query_rows * row_bytes + key_rows * key_row_bytes + tables
    return query_rows, key_rows, planned


def planned_bytes(call) -> int:
    """Working memory ``triton`` plans for ``call`` (a ``dispatch.AttentionCall``)."""
    batch, embed, height, width = call.query.shape
    return plan_chunks(
        batch, embed, call.values[0].shape[1], height, width, call.level_sizes, call.patch_size,
        call.budget_bytes,
    )[2]  # fmt: skip


def _launch_settings(embed: int, channels: int, groups: TapGroups, geo: TritonGeometry) -> dict:
    return dict(
        T=groups.width,
        KK=groups.taps,
        G1=groups.first,
        G2=groups.second,
        HAS2=groups.has_second,
        C_Q=embed,
        CP=_pow2(embed),
        C_V=channels,
        CVB=min(VALUE_CHANNELS, _pow2(channels)),
        BM=BLOCK,
        BN=BLOCK,
        PRECISION=geo.precision,
    )


def _taps_of_queries(
    kernels, query, keys, values, scale, qnbr, knbr, lse, geo: TritonGeometry, row0: int, row1: int
) -> Tensor:
    """``U`` [B, rows * W, k², C] of query rows ``row0 .. row1`` (and their log-sum-exp)."""
    batch, embed, n = query.shape
    channels, m = values.shape[1], values.shape[2]
    settings = _launch_settings(embed, channels, geo.groups, geo)
    start, count = row0 * geo.width, (row1 - row0) * geo.width
    taps = query.new_empty(batch, count, geo.groups.taps, channels)
    grid = (math.ceil(count / BLOCK), batch, math.ceil(channels / settings["CVB"]))
    kernels.forward[grid](query, keys, values, scale, qnbr, knbr, taps, lse, n, m, start, count,
                          **settings)  # fmt: skip
    return taps


class _TritonPyramidAttention(torch.autograd.Function):
    """Inputs: query [B, c, N], keys [B, c, M] and values [B, C, M] (levels concatenated,
    unpadded), key scales [B, M]; output: the pasted values [B, C, H, W] (not divided by 4)."""

    @staticmethod
    def forward(ctx, query, keys, values, scale, geo: TritonGeometry):  # noqa: D102
        from panet.attention import triton_kernels as kernels

        batch, channels = query.shape[0], values.shape[1]
        qnbr = neighbour_table([(geo.height, geo.width)], geo.patch_size, geo.groups, query.device)
        knbr = neighbour_table(geo.level_sizes, geo.patch_size, geo.groups, query.device)
        out = query.new_zeros(batch, channels, geo.height, geo.width)
        lse = query.new_empty(batch, geo.height * geo.width)
        for row0, row1 in geo.query_chunks():
            check_stop()  # a signal stops a whole-image call between chunks
            taps = _taps_of_queries(
                kernels, query, keys, values, scale, qnbr, knbr, lse, geo, row0, row1
            )
            _fold_rows(taps, out, row0, row1, geo.patch_size)
        ctx.geo = geo
        ctx.save_for_backward(query, keys, values, scale, qnbr, knbr, lse)
        return out

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        from panet.attention import triton_kernels as kernels

        geo: TritonGeometry = ctx.geo
        query, keys, values, scale, qnbr, knbr, lse = ctx.saved_tensors
        batch, embed, n = query.shape
        channels, m = values.shape[1], values.shape[2]
        grad_out = grad_out.contiguous()
        settings = _launch_settings(embed, channels, geo.groups, geo)
        # D[i] = sum_o <dL/d out[i + o], U[i, o]>, U recomputed chunk by chunk
        d_sum = query.new_empty(batch, n)
        spare_lse = torch.empty_like(lse)
        for row0, row1 in geo.query_chunks():
            taps = _taps_of_queries(
                kernels, query, keys, values, scale, qnbr, knbr, spare_lse, geo, row0, row1
            )
            columns = taps.permute(0, 3, 2, 1).reshape(batch, -1, taps.shape[1])
            d_taps = _unfold_rows(grad_out, row0, row1, geo.patch_size)
            d_sum[:, row0 * geo.width : row1 * geo.width] = (columns * d_taps).sum(dim=1)
        grad_flat = grad_out.view(batch, channels, n)
        common = (query, keys, values, grad_flat, scale, lse, d_sum, qnbr, knbr)
        grad_query = torch.zeros(batch, embed, geo.height, geo.width, device=query.device)
        for row0, row1 in geo.query_chunks():
            start, count = row0 * geo.width, (row1 - row0) * geo.width
            taps = query.new_empty(batch, count, geo.groups.taps, embed)
            grid = (math.ceil(count / BLOCK), batch)
            kernels.grad_query[grid](*common, taps, n, m, start, count, **settings)
            _fold_rows(taps, grad_query, row0, row1, geo.patch_size)
        grad_keys = [query.new_zeros(batch, embed, h, w) for h, w in geo.level_sizes]
        grad_values = [query.new_zeros(batch, channels, h, w) for h, w in geo.level_sizes]
        grad_scale = query.new_empty(batch, m)
        for level, base, row0, row1 in geo.key_chunks():
            width = geo.level_sizes[level][1]
            start, count = base + row0 * width, (row1 - row0) * width
            key_taps = query.new_empty(batch, count, geo.groups.taps, embed)
            value_taps = query.new_empty(batch, count, geo.groups.taps, channels)
            grid = (math.ceil(count / BLOCK), batch, math.ceil(channels / settings["CVB"]))
            kernels.grad_keys[grid](*common, key_taps, value_taps, grad_scale, n, m, start,
                                    count, **settings)  # fmt: skip
            _fold_rows(key_taps, grad_keys[level], row0, row1, geo.patch_size)
            _fold_rows(value_taps, grad_values[level], row0, row1, geo.patch_size)
        flat_keys = torch.cat([g.flatten(2) for g in grad_keys], dim=2)
        flat_values = torch.cat([g.flatten(2) for g in grad_values], dim=2)
        return grad_query.flatten(2), flat_keys, flat_values, grad_scale, None


@torch.compiler.disable  # launches its own kernels: run eagerly under torch.compile
def triton_attention(
    query: Tensor,
    keys: Sequence[Tensor],
    values: Sequence[Tensor],
    *,
    patch_size: int,
    softmax_scale: float,
    hard: bool,
    memory_budget_mb: float | None = None,
) -> Tensor:
    """Pyramid attention output (without the residual) by the Triton kernels; the same
    arguments and result as ``faithful_attention`` (float32, soft attention)."""
    check_attention_inputs(query, keys, values, patch_size)
    if hard:
        raise ValueError("the Triton kernels compute soft attention only; use impl=fast")
    batch, embed, height, width = query.shape
    level_sizes = tuple((int(key.shape[2]), int(key.shape[3])) for key in keys)
    budget = memory_budget_bytes(query.device, memory_budget_mb)
    query_rows, key_rows, _ = plan_chunks(
        batch, embed, values[0].shape[1], height, width, level_sizes, patch_size, budget
    )
    geo = TritonGeometry(height, width, level_sizes, patch_size, query_rows, key_rows, precision())
    scale = torch.cat(
        [inverse_key_norms(key, patch_size).flatten(1) for key in keys], dim=1
    ) * float(softmax_scale)
    pasted = _TritonPyramidAttention.apply(
        query.flatten(2).contiguous(),
        torch.cat([key.flatten(2) for key in keys], dim=2).contiguous(),
        torch.cat([value.flatten(2) for value in values], dim=2).contiguous(),
        scale.contiguous(),
        geo,
    )
    return pasted / OUTPUT_DIVISOR
