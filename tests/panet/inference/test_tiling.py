"""chop (the authors' recursive quadrant split) and the batched tiler."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import Tensor, nn

from panet.inference.chop import AxisSplit, chop, chop_pieces
from panet.inference.tiles import tile_starts, tile_weight_1d, tiles


def local_net(channels: int, scale: int, seed: int = 0) -> nn.Module:
    """Conv net with receptive-field radius 2 (input pixels), pixel-shuffle upsampling."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(channels, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, channels * scale * scale, 3, padding=1),
        nn.PixelShuffle(scale),
    )
    return net.eval().requires_grad_(False)


def nearest_up(x: Tensor, scale: int) -> Tensor:
    """Radius-0 "network": exact stitching check (any misplaced pixel changes the result)."""
    return x.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)


def ramp_image(b: int, c: int, h: int, w: int) -> Tensor:
    return torch.arange(b * c * h * w, dtype=torch.float32).reshape(b, c, h, w)


# ---------------------------------------------------------------------------------- chop


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
@pytest.mark.parametrize("hw", [(37, 53), (50, 41), (23, 64)])
def test_chop_stitches_exactly(scale: int, hw: tuple[int, int]) -> None:
    x = ramp_image(2, 1, *hw)
    forward = functools.partial(nearest_up, scale=scale)
    out = chop(forward, x, scale=scale, shave=10, min_size=300)
    assert torch.equal(out, nearest_up(x, scale))


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_chop_equals_whole_image_for_local_net(scale: int) -> None:
    net = local_net(3, scale)
    x = torch.rand(1, 3, 45, 38)
    with torch.no_grad():
        whole = net(x)
        out = chop(net, x, scale=scale, shave=10, min_size=900)  # two levels, 16 pieces
    assert out.shape == (1, 3, 45 * scale, 38 * scale)
    torch.testing.assert_close(out, whole, rtol=1e-5, atol=1e-6)


def test_chop_batch_equals_per_image() -> None:
    net = local_net(3, 1)
    x = torch.rand(3, 3, 40, 40)
    with torch.no_grad():
        together = chop(net, x, min_size=700)
        separate = torch.cat([chop(net, x[i : i + 1], min_size=700) for i in range(3)])
    torch.testing.assert_close(together, separate, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_axis_split_geometry(scale: int) -> None:
    for length in range(1, 90):
        split = AxisSplit.of(length, shave=10, scale=scale)
        authors_size = length // 2 + 10
        authors_size += authors_size % scale
        assert split.half == length // 2
        assert split.size == min(authors_size, length)
        (d0, s0), (d1, s1) = split.output_slices(scale)
        # Destinations tile the output exactly; sources have the same lengths and lie inside
        # the piece outputs.
        assert (d0.start, d0.stop, d1.start, d1.stop) == (
            0,
            scale * split.half,
            scale * split.half,
            scale * length,
        )
        assert s0.stop - s0.start == d0.stop - d0.start
        assert s1.stop - s1.start == d1.stop - d1.start
        assert s1.start >= 0 and s1.stop == scale * split.size
        # The second piece starts at length - size; its source start is image position half.
        assert scale * (length - split.size) + s1.start == scale * split.half
        i0, i1 = split.input_slices()
        assert (i0.start, i0.stop, i1.start, i1.stop) == (
            0,
            split.size,
            length - split.size,
            length,
        )


def test_chop_pieces_matches_authors_numbers() -> None:
    # 321 x 481 (a BSD68 image): halves 160/240, pieces 170 x 250.
    rows, cols = chop_pieces(321, 481, shave=10)
    assert (rows.half, rows.size, cols.half, cols.size) == (160, 170, 240, 250)
    # SR x3 rounding: 99 // 2 + 10 = 59, 59 % 3 = 2 -> 61.
    rows, _ = chop_pieces(99, 99, scale=3, shave=10)
    assert rows.size == 61


def _recording(calls: list[tuple[int, int]]):
    def forward(x: Tensor) -> Tensor:
        calls.append((x.shape[-2], x.shape[-1]))
        return x

    return forward


def test_chop_recursion_depth_and_piece_sizes() -> None:
    calls: list[tuple[int, int]] = []
    chop(_recording(calls), torch.zeros(1, 1, 200, 300), shave=10, min_size=6800)
    # 200x300 -> pieces 110x160 (17,600 >= 6,800: split again) -> 65x90 (5,850 < 6,800: run).
    assert calls == [(65, 90)] * 16


@pytest.mark.parametrize(("min_size", "expected"), [(100, [(5, 5)] * 16), (101, [(10, 10)] * 4)])
def test_chop_threshold_is_strictly_less(min_size: int, expected: list[tuple[int, int]]) -> None:
    calls: list[tuple[int, int]] = []
    chop(_recording(calls), torch.zeros(1, 1, 20, 20), shave=0, min_size=min_size)
    assert calls == expected


def test_chop_tiny_image_runs_once() -> None:
    calls: list[tuple[int, int]] = []
    x = torch.rand(1, 1, 7, 9)
    out = chop(_recording(calls), x, shave=10, min_size=1)
    assert calls == [(7, 9)]
    assert torch.equal(out, x)


def test_chop_rejects_wrong_scale() -> None:
    with pytest.raises(ValueError, match="scale"):
        chop(functools.partial(nearest_up, scale=2), torch.rand(1, 1, 30, 30), scale=1)


# ---------------------------------------------------------------------------------- tiles


def test_tile_starts() -> None:
    assert tile_starts(10, 16, 4) == [0]
    assert tile_starts(16, 16, 4) == [0]
    assert tile_starts(40, 16, 4) == [0, 12, 24]
    assert tile_starts(41, 16, 4) == [0, 12, 24, 25]


def test_tile_weights_cover_every_pixel() -> None:
    for overlap in (0, 1, 2, 3, 4, 5, 8, 11):
        for length in range(1, 40):
            total = torch.zeros(length, dtype=torch.float64)
            starts = tile_starts(length, 12, overlap)
            extent = min(12, length)
            for s in starts:
                total[s : s + extent] += tile_weight_1d(
                    extent, has_prev=s > 0, has_next=s + extent < length, overlap=overlap
                )
            assert total.min() > 0, (overlap, length)


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
@pytest.mark.parametrize("hw", [(37, 70), (10, 12), (24, 50)])
def test_tiles_equal_whole_image_for_local_net(scale: int, hw: tuple[int, int]) -> None:
    net = local_net(3, scale)
    x = torch.rand(2, 3, *hw)
    with torch.no_grad():
        out = tiles(net, x, scale=scale, tile=24, overlap=10, batch_size=3)  # margin 2 = radius
        whole = net(x)
    torch.testing.assert_close(out, whole, rtol=1e-5, atol=1e-5)


def test_tiles_independent_of_batch_size() -> None:
    net = local_net(3, 2)
    x = torch.rand(2, 3, 45, 33)
    with torch.no_grad():
        results = [tiles(net, x, scale=2, tile=16, overlap=6, batch_size=n) for n in (1, 3, 50)]
    for other in results[1:]:
        torch.testing.assert_close(other, results[0], rtol=1e-6, atol=1e-6)


def test_tiles_blend_nonlocal_outputs_smoothly() -> None:
    # A "network" whose output depends on the whole tile (its mean): the blend must stay within
    # the range of the tile outputs and have no hard step inside the cross-fade.
    def tile_mean(t: Tensor) -> Tensor:
        return t.mean(dim=(-2, -1), keepdim=True).expand_as(t)

    x = torch.linspace(0, 1, 64).expand(1, 1, 8, 64).contiguous()
    out = tiles(tile_mean, x, tile=32, overlap=16)
    steps = out[0, 0, 0].diff().abs()
    assert steps.max() < 0.1
    assert out.min() >= tile_mean(x[..., :32]).min() - 1e-6


@pytest.mark.parametrize("bad", [dict(overlap=16, tile=16), dict(batch_size=0), dict(tile=0)])
def test_tiles_rejects_bad_options(bad: dict) -> None:
    with pytest.raises(ValueError):
        tiles(lambda t: t, torch.rand(1, 1, 8, 8), **bad)
