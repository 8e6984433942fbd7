"""Panels, crops, colormap and PNG writing of panet.imaging.rendering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from panet.imaging.rendering import (
    DIMMED,
    HEAT_ANCHORS,
    crop_window,
    draw_box,
    enlarge,
    heat_colormap,
    labelled,
    overlay_weights,
    panel,
    relative_weights,
    safe_file_stem,
    save_png,
    shrink_to,
    to_rgb_uint8,
)


def test_grey_becomes_rgb_and_values_are_clamped_and_rounded() -> None:
    img = torch.tensor([[[-5.0, 0.4], [254.6, 300.0]]])  # [1, 2, 2]
    rgb = to_rgb_uint8(img)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[..., 0], [[0, 0], [255, 255]])
    with pytest.raises(ValueError, match="C = 1 or 3"):
        to_rgb_uint8(torch.zeros(2, 4, 4))


def test_crop_window_stays_inside_and_follows_the_centre() -> None:
    assert crop_window(100, 50, 32) == (34, 9, 32, 32)
    assert crop_window(100, 50, 32, centre_yx=(0, 49)) == (0, 18, 32, 32)
    assert crop_window(10, 8, 32) == (0, 0, 10, 8)


def test_sr_panel_upsamples_the_input_and_crops_big_images() -> None:
    gt = torch.rand(3, 40, 60) * 255
    lq = gt[:, ::2, ::2]
    picture = panel(lq, gt, gt, max_side=32, gap=2)
    assert picture.shape == (32, 3 * 32 + 4, 3)
    np.testing.assert_array_equal(picture[:, 34:66], picture[:, 68:100])  # output == target
    top, left, _, _ = crop_window(40, 60, 32)
    expected_lq = to_rgb_uint8(gt[:, top : top + 32 : 2, left : left + 32 : 2])
    np.testing.assert_array_equal(picture[:32:2, :32:2], expected_lq)


def test_colormap_ends_and_monotonic_brightness() -> None:
    rgb = heat_colormap(torch.linspace(0, 1, 11)[None])[0]
    assert tuple(rgb[0]) == HEAT_ANCHORS[0] and tuple(rgb[-1]) == HEAT_ANCHORS[-1]
    brightness = rgb.astype(int).sum(axis=1)
    assert (np.diff(brightness) > 0).all()


def test_png_round_trip_and_file_stems(tmp_path: Path) -> None:
    rgb = (np.arange(2 * 3 * 3) * 9).astype(np.uint8).reshape(2, 3, 3)
    path = save_png(rgb, tmp_path / "a" / "b.png")
    np.testing.assert_array_equal(np.asarray(Image.open(path)), rgb)
    assert safe_file_stem("kodim01.png") == "kodim01"
    assert safe_file_stem("sub/dir:x") == "sub_dir_x"


def test_overlay_covers_its_region_and_dims_the_rest() -> None:
    picture = np.full((6, 8, 3), 200, dtype=np.uint8)
    weights = torch.zeros(2, 3)
    weights[1, 2] = 4.0  # the peak: the last anchor colour, fully opaque at alpha 1
    weights[0, 1] = 2.0  # half the peak: half the opacity
    out = overlay_weights(picture, weights, top=1, left=4, alpha=1.0)
    assert tuple(out[2, 6]) == HEAT_ANCHORS[-1]
    assert tuple(out[1, 4]) == (200, 200, 200)  # no weight: the picture shows through
    half = np.rint((200 + heat_colormap(torch.tensor([[0.5]]))[0, 0].astype(float)) / 2)
    np.testing.assert_array_equal(out[1, 5], half)
    assert (out[:, :4] == round(200 * DIMMED)).all() and (out[3:, 4:] == 100).all()
    with pytest.raises(ValueError, match="does not fit"):
        overlay_weights(picture, weights, top=5, left=0)


def test_log_scale_spreads_the_tail_over_the_decades() -> None:
    weights = torch.tensor([[1.0, 0.1, 0.01, 1e-3, 1e-6]])
    torch.testing.assert_close(relative_weights(weights), weights)
    torch.testing.assert_close(
        relative_weights(weights, log_decades=3), torch.tensor([[1.0, 2 / 3, 1 / 3, 0.0, 0.0]])
    )
    rgb = np.zeros((5, 5, 3), dtype=np.uint8)
    draw_box(rgb, 2, 2, 1)
    assert rgb[..., 0].sum() == 8 * 255 and rgb[2, 2, 0] == 0  # the outline only


def test_labels_enlargement_and_shrinking() -> None:
    tile = np.zeros((10, 4, 3), dtype=np.uint8)
    out = labelled(tile, "level 0 (scale 1): 41.9%")
    assert out.shape[1] > 4 and out.shape[0] > 10  # the strip widened to hold the text
    strip = out[: out.shape[0] - 10]
    assert strip.min() < 100 and (strip == 255).any()  # dark text on white
    assert enlarge(tile[:2, :3], 3).shape == (6, 9, 3)
    assert shrink_to(np.zeros((40, 100, 3), dtype=np.uint8), 50).shape == (20, 50, 3)
    assert shrink_to(tile, 50) is tile
