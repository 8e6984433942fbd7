"""How the box-sum pyramid attention cuts its work so that memory follows a budget, not the image.

The score map of one call is ``[queries, keys]`` over the zero-padded, flattened query grid and
the concatenated padded key grids of all levels (``panet.attention.fast``). It is never held
whole: queries go in blocks of rows (each with ``p = k // 2`` halo rows on both sides, for the
box sums) and, when one block row of all keys would not fit, keys go in *tiles* of whole
padded key rows. A tile *owns* some rows (their scores count) and carries ``p`` more rows of its
level on each side (their pixel scores feed the owned rows' box sums; their scores are masked
out). The softmax still runs jointly over all keys: with several tiles a first pass gathers each
query's log-sum-exp over the tiles, a second pastes ``exp(s - lse)`` tile by tile (backward:
the same two passes for the softmax's row sums ``sum_k A dA``).

``plan_blocks`` chooses the query blocks and the key tiles from the bytes a path holds per
block-row and per key column (``BufferModel``), so that peak working memory stays within the
budget: ``O(query block x key tile)``, plus the inputs and outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Fewest interior query rows per block: each block recomputes 2p halo rows.
MIN_BLOCK_ROWS = 4


@dataclass(frozen=True)
class KeyTile:
    """A run of whole padded key rows: keys ``[start, stop)`` of the concatenated key axis,
    of which ``[own_start, own_stop)`` are owned; ``spans`` gives, per level part inside the
    tile, ``(first key in the tile, keys, padded key-grid width)``."""

    start: int
    stop: int
    own_start: int
    own_stop: int
    spans: tuple[tuple[int, int, int], ...]

    @property
    def length(self) -> int:
        return self.stop - self.start


def padded_sizes(level_sizes: Sequence[tuple[int, int]], pad: int) -> list[tuple[int, int]]:
    """Padded ``(Hl + 2p, Wl + 2p)`` of every level."""
    return [(h + 2 * pad, w + 2 * pad) for h, w in level_sizes]


def whole_tile(level_sizes: Sequence[tuple[int, int]], pad: int) -> KeyTile:
    """One tile holding (and owning) every key of every level."""
    spans, start = [], 0
    for hp, wp in padded_sizes(level_sizes, pad):
        spans.append((start, hp * wp, wp))
        start += hp * wp
    return KeyTile(0, start, 0, start, tuple(spans))


def _row_units(level_sizes: Sequence[tuple[int, int]], pad: int) -> list[tuple[int, int, int]]:
    """``(level, first padded row, end padded row)`` per interior key row, the padding rows
    attached to the first and last interior row of their level, so every tile owns real keys
    (a tile of padding alone would have no finite score to normalize)."""
    units = []
    for level, (h, _) in enumerate(level_sizes):
        for row in range(h):
            first = 0 if row == 0 else row + pad
            end = h + 2 * pad if row == h - 1 else row + pad + 1
            units.append((level, first, end))
    return units


def _tile_of(first_unit, last_unit, level_sizes, pad: int, starts: list[int]) -> KeyTile:
    """The tile owning the row units ``first_unit`` .. ``last_unit`` (consecutive), with ``p``
    halo rows of the end levels."""
    padded = padded_sizes(level_sizes, pad)
    (first_level, first_row, _), (last_level, _, last_end) = first_unit, last_unit
    ext_first = max(0, first_row - pad)
    ext_end = min(padded[last_level][0], last_end + pad)
    width = [wp for _, wp in padded]
    start = starts[first_level] + ext_first * width[first_level]
    stop = starts[last_level] + ext_end * width[last_level]
    spans = []
    for level in range(first_level, last_level + 1):
        r0 = ext_first if level == first_level else 0
        r1 = ext_end if level == last_level else padded[level][0]
        offset = starts[level] + r0 * width[level] - start
        spans.append((offset, (r1 - r0) * width[level], width[level]))
    own_start = starts[first_level] + first_row * width[first_level]
    own_stop = starts[last_level] + last_end * width[last_level]
    return KeyTile(start, stop, own_start, own_stop, tuple(spans))


def key_tiles(
    level_sizes: Sequence[tuple[int, int]], pad: int, max_keys: int
) -> tuple[KeyTile, ...]:
    """Tiles of at most ``max_keys`` keys each (halo included) covering every key once as owner;
    one whole tile when everything fits. A tile is never smaller than one interior row of its
    level plus halo, whatever ``max_keys`` says."""
    whole = whole_tile(level_sizes, pad)
    if whole.length <= max_keys:
        return (whole,)
    starts = [start for start, _, _ in whole.spans]
    tiles, first, last = [], None, None
    for unit in _row_units(level_sizes, pad):
        if first is not None and _tile_of(first, unit, level_sizes, pad, starts).length > max_keys:
            tiles.append(_tile_of(first, last, level_sizes, pad, starts))
            first = None
        first = unit if first is None else first
        last = unit
    tiles.append(_tile_of(first, last, level_sizes, pad, starts))
    return tuple(tiles)


@dataclass(frozen=True)
class BufferModel:
    """Elements a path holds at once, per query block: ``block_buffers`` buffers of
    ``[images, (rows + 2p) * Wq, tile keys]``, ``per_key_rows`` rows of ``tile keys`` per
    thread (the native pass's rings), and ``cap`` at most per block buffer (a speed choice:
    larger blocks stop paying once a block fills the caches and the threads)."""

    block_buffers: int
    per_key_rows: int
    cap: int | None = None


@dataclass(frozen=True)
class BlockPlan:
    """Query blocks and key tiles of one call, and the working memory they hold."""

    block_rows: int
    block_images: int
    tiles: tuple[KeyTile, ...]
    elements: int  # planned peak working elements (blocks, rings), inputs and outputs excluded
    fits: bool  # whether ``elements`` is within the budget (False: even the smallest plan is not)

    @property
    def max_tile(self) -> int:
        return max(tile.length for tile in self.tiles)


def _elements(model: BufferModel, images: int, rows: int, pad: int, wq: int, keys: int) -> int:
    return model.block_buffers * images * (rows + 2 * pad) * wq * keys + model.per_key_rows * keys


def _whole_key_plan(
    batch: int, height: int, wq: int, pad: int, tile: KeyTile, model: BufferModel, budget: int
) -> BlockPlan | None:
    """Every key in one tile, as many query rows (then images) as the budget and the cap
    allow (the cap never below ``MIN_BLOCK_ROWS`` rows); None when even that many rows of all
    keys do not fit the budget."""
    keys = tile.length
    free = budget - model.per_key_rows * keys
    row_elements = model.block_buffers * wq * keys
    least = min(height, MIN_BLOCK_ROWS)
    rows = free // row_elements - 2 * pad
    if rows < least:
        return None
    if model.cap is not None:
        rows = min(rows, max(least, model.cap // (wq * keys) - 2 * pad))
    if rows < height:
        return BlockPlan(rows, 1, (tile,), _elements(model, 1, rows, pad, wq, keys), True)
    images = free // ((height + 2 * pad) * row_elements)
    if model.cap is not None:
        images = min(images, model.cap // ((height + 2 * pad) * wq * keys))
    images = max(1, min(batch, images))
    return BlockPlan(height, images, (tile,), _elements(model, images, height, pad, wq, keys), True)


def _tiled_plan(
    height: int,
    wq: int,
    pad: int,
    level_sizes,
    model: BufferModel,
    budget: int,
    max_tile_keys: int | None,
) -> BlockPlan:
    """Rows of one image against key tiles: the rows per block that waste least on halos
    (recomputed query rows, key halo rows) within the budget (and the cap per buffer); the
    smallest blocks when nothing fits."""
    widths = [w + 2 * pad for _, w in level_sizes]
    mean_width = sum(widths) / len(widths)
    best = None
    for rows in sorted({min(height, r) for r in (MIN_BLOCK_ROWS, 6, 8, 12, 16, 24, 32, 48, 64)}):
        per_key = model.block_buffers * (rows + 2 * pad) * wq + model.per_key_rows
        keys = budget // per_key
        if max_tile_keys is not None:
            keys = min(keys, max_tile_keys)
        if model.cap is not None:
            keys = min(keys, model.cap // ((rows + 2 * pad) * wq))
        key_rows = keys / mean_width - 2 * pad
        if key_rows < 1:
            continue
        waste = (rows + 2 * pad) / rows * (key_rows + 2 * pad) / key_rows
        if best is None or waste < best[0]:
            best = (waste, rows, keys)
    if best is None:  # not even one key row per tile: the smallest tiles
        rows, keys = min(height, MIN_BLOCK_ROWS), 1 if max_tile_keys is None else max_tile_keys
    else:
        _, rows, keys = best
    tiles = key_tiles(level_sizes, pad, keys)
    most = max(tile.length for tile in tiles)
    elements = _elements(model, 1, rows, pad, wq, most)
    return BlockPlan(rows, 1, tiles, elements, elements <= budget)


def plan_blocks(
    batch: int,
    height: int,
    width: int,
    level_sizes: Sequence[tuple[int, int]],
    pad: int,
    model: BufferModel,
    budget_elements: int,
    max_tile_keys: int | None = None,
) -> BlockPlan:
    """Query blocks and key tiles whose working memory (``model``) stays within
    ``budget_elements``: all keys at once when a few query rows of them fit (and
    ``max_tile_keys``, a tuning and testing knob, allows), else key tiles."""
    wq = width + 2 * pad
    whole = whole_tile(level_sizes, pad)
    if max_tile_keys is None or whole.length <= max_tile_keys:
        plan = _whole_key_plan(batch, height, wq, pad, whole, model, budget_elements)
        if plan is not None:
            return plan
    return _tiled_plan(height, wq, pad, level_sizes, model, budget_elements, max_tile_keys)


def multiply_adds(
    batch: int, height: int, width: int, level_sizes, pad: int, embed: int, channels: int
) -> int:
    """Multiply-adds of the box-sum form's two products (pixel scores over ``embed`` channels,
    the paste over ``channels``) over all queries and keys, halos excluded: the work a whole
    input costs whatever the blocks."""
    keys = sum((h + 2 * pad) * (w + 2 * pad) for h, w in level_sizes)
    queries = (height + 2 * pad) * (width + 2 * pad)
    return batch * queries * keys * (embed + channels)


__all__ = [
    "MIN_BLOCK_ROWS",
    "BlockPlan",
    "BufferModel",
    "KeyTile",
    "key_tiles",
    "multiply_adds",
    "plan_blocks",
    "whole_tile",
]
