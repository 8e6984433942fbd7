"""How the fast attention cuts its work: key tiles cover every key once, plans stay within the
budget at every image size, and the training shape keeps its blocks."""

from __future__ import annotations

import math

import pytest

from panet.attention.fast import DEFAULT_BLOCK_ELEMENTS
from panet.attention.tiling import (
    MIN_BLOCK_ROWS,
    BufferModel,
    key_tiles,
    plan_blocks,
    whole_tile,
)

SCALES = (1.0, 0.9, 0.8, 0.7, 0.6)


def level_sizes(height: int, width: int, levels: int = 5) -> list[tuple[int, int]]:
    return [(math.floor(height * s), math.floor(width * s)) for s in SCALES[:levels]]


#: The streamed native path in backward with 2 threads at padded width 50 (the training shape).
STREAMED_BACKWARD = BufferModel(2, 2 * (2 + 2 * (2 * 103 + 6) + 1), DEFAULT_BLOCK_ELEMENTS)


@pytest.mark.parametrize("max_keys", [1, 40, 150, 400, 10**6])
@pytest.mark.parametrize(("sizes", "pad"), [([(6, 7), (5, 6), (4, 5)], 1), ([(9, 4)], 2)])
def test_tiles_own_every_key_once_and_stay_small(sizes, pad, max_keys):
    tiles = key_tiles(sizes, pad, max_keys)
    owned = [k for tile in tiles for k in range(tile.own_start, tile.own_stop)]
    assert owned == list(range(whole_tile(sizes, pad).length))
    smallest_unit = (1 + 2 * pad) * max(w + 2 * pad for _, w in sizes)  # one row + halo
    for tile in tiles:
        assert tile.start <= tile.own_start < tile.own_stop <= tile.stop
        assert tile.length <= max(max_keys, smallest_unit)
        assert sum(length for _, length, _ in tile.spans) == tile.length
        # parts are whole padded rows of their level, in order and back to back
        offset = 0
        for start, length, width in tile.spans:
            assert start == offset and length % width == 0
            offset += length


def test_every_tile_owns_real_keys():
    """A tile of padding rows alone would have no finite score to normalize."""
    sizes, pad = [(5, 6), (4, 5)], 1
    starts = [0, (5 + 2) * (6 + 2)]
    for tile in key_tiles(sizes, pad, 10):
        level = 0 if tile.own_start < starts[1] else 1
        h, w = sizes[level]
        wp = w + 2 * pad
        rows = {(k - starts[level]) // wp for k in range(tile.own_start, tile.own_stop)}
        assert rows & set(range(pad, pad + h))


def test_training_shape_keeps_one_image_per_block_with_every_key():
    """16 x 48 x 48, 5 levels, fwd+bwd on the streamed path: the blocks of the measured
    training step (one image, every row, one tile), well within the CPU default budget."""
    plan = plan_blocks(16, 48, 48, level_sizes(48, 48), 1, STREAMED_BACKWARD, (512 << 20) // 4)
    assert (plan.block_rows, plan.block_images, len(plan.tiles)) == (48, 1, 1)
    assert plan.fits and plan.elements * 4 < 256 << 20


@pytest.mark.parametrize(
    ("height", "width", "budget_mb"),
    [(82, 82, 64), (128, 128, 64), (128, 128, 512), (321, 481, 128), (321, 481, 512),
     (512, 768, 256), (1024, 1024, 512)],
)  # fmt: skip
def test_whole_images_plan_within_the_budget(height, width, budget_mb):
    """Forward-only whole images up to 1024 x 1024 (a score map of 4.6 TB) on the streamed
    path (2 threads' rings of 2 (W + 3) rows each): the plan's working memory stays within the
    budget, with every key at once when a few rows of them fit, else in key tiles."""
    model = BufferModel(1, 2 * (2 + (2 * (2 * (width + 3) + 1) + 6)), None)
    budget = (budget_mb << 20) // 4
    sizes = level_sizes(height, width)
    plan = plan_blocks(1, height, width, sizes, 1, model, budget)
    assert plan.fits and plan.elements <= budget
    assert plan.block_rows >= min(height, MIN_BLOCK_ROWS)
    keys = whole_tile(sizes, 1).length
    least_rows = min(height, MIN_BLOCK_ROWS)
    all_keys_fit = (least_rows + 2) * (width + 2) * keys + model.per_key_rows * keys <= budget
    assert (len(plan.tiles) == 1) == all_keys_fit


def test_a_budget_below_one_key_row_is_reported_not_exceeded_silently():
    model = BufferModel(2, 2000, None)
    plan = plan_blocks(1, 512, 768, level_sizes(512, 768), 1, model, 10_000)
    assert not plan.fits and plan.elements > 10_000
