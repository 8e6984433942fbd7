"""Attention maps of query pixels: capture, pixel -> feature cell, windows, point checks."""

from __future__ import annotations

import pytest
import torch

from panet.inference.attention_maps import (
    attention_at_points,
    capture_attention_inputs,
    check_points,
    feature_cell,
    point_window,
)
from panet.models.registry import build_network


def tiny_panet() -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_network("panet", n_feats=4, n_resblocks=2, levels=3, attention_impl="faithful")
    return net.eval()


def test_stopping_early_captures_the_same_features_without_running_the_tail() -> None:
    net = tiny_panet()
    x = torch.rand(1, 3, 12, 10)
    calls = []
    handle = net.tail.register_forward_hook(lambda *_: calls.append(1))
    full = capture_attention_inputs(net, x, stop_early=False)
    early = capture_attention_inputs(net, x)
    handle.remove()
    assert len(calls) == 1  # only the full pass reached the tail
    assert [n for n, _, _ in early] == [n for n, _, _ in full] == ["body.1"]
    torch.testing.assert_close(early[0][2], full[0][2], rtol=0, atol=0)


def test_pixels_map_to_the_cell_that_covers_them() -> None:
    assert feature_cell((5, 7), (12, 10), (12, 10)) == (5, 7)  # same resolution
    assert feature_cell((5, 7), (12, 10), (24, 20)) == (10, 14)  # 2x features: top-left cell
    assert feature_cell((5, 7), (12, 10), (4, 5)) == (1, 3)  # 1/3 and 1/2 of the input
    assert feature_cell((11, 9), (12, 10), (5, 3)) == (4, 2)  # last pixel, last cell


def test_windows_stay_inside_and_follow_the_input_multiple() -> None:
    assert point_window((3, 4), 16, 20, None) == (0, 0, 16, 20)
    assert point_window((3, 4), 16, 20, 8) == (0, 0, 8, 8)
    assert point_window((19, 15), 16, 20, 8) == (8, 12, 8, 8)
    assert point_window((10, 8), 16, 20, 8, multiple=3) == (5, 7, 6, 6)
    assert point_window((1, 1), 2, 20, 8, multiple=3) == (0, 0, 2, 6)  # padded up later


def test_every_point_outside_is_named_at_once() -> None:
    check_points([(0, 0), (19, 15)], 16, 20, "img.png")
    with pytest.raises(ValueError) as error:
        check_points([(20, 3), (2, 2), (5, 16), (-1, 0)], 16, 20, "img.png")
    message = str(error.value)
    assert "3 of 4 query point(s) lie outside img.png" in message
    assert "20,3 5,16 -1,0" in message and "x must be in 0..19, y in 0..15" in message
    with pytest.raises(ValueError, match="no query points"):
        check_points([], 16, 20, "img.png")


def test_maps_of_the_whole_image_and_of_crops() -> None:
    net = tiny_panet()
    image = torch.rand(3, 16, 20) * 255
    (whole,), (cropped,) = (
        attention_at_points(net, image, [(19, 15)]),
        attention_at_points(net, image, [(19, 15)], crop=8),
    )
    features = capture_attention_inputs(net, image[None] / 255)[0][2]
    expected = net.body[1].attention_map(features, (15, 19))
    assert whole[0].feature_yx == (15, 19) and whole[0].window == (0, 0, 16, 20)
    for got, want in zip(whole[0].maps, expected, strict=True):
        torch.testing.assert_close(got, want[0])
    assert sum(whole[0].shares()) == pytest.approx(1.0, abs=1e-5)
    assert cropped[0].window == (8, 12, 8, 8) and cropped[0].feature_yx == (7, 7)
    assert cropped[0].weights_on_input(1).shape == (8, 8)
    assert [tuple(m.shape) for m in cropped[0].maps] == [(8, 8), (7, 7), (6, 6)]


def test_a_network_without_attention_is_refused() -> None:
    net = build_network("edsr", scale=2, n_feats=8, n_resblocks=1).eval()
    with pytest.raises(ValueError, match="no pyramid attention or cross-scale attention"):
        attention_at_points(net, torch.zeros(3, 8, 8), [(1, 1)])
