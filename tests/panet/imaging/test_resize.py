"""MATLAB-compatible bicubic imresize (the Set5 pixel-exact check is in test_published_rows)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from panet.imaging.resize import imresize, imresize_uint8, output_length, weight_matrix


@pytest.mark.parametrize("scale", [1 / 4, 1 / 3, 1 / 2, 1.0, 2.0, 3.0, 4.0])
def test_weight_rows_sum_to_one(scale: float) -> None:
    n = 12
    matrix = weight_matrix(n, output_length(n, scale), scale)
    assert torch.allclose(matrix.sum(dim=1), torch.ones(matrix.shape[0], dtype=torch.float64))


def test_scale_one_is_identity() -> None:
    img = torch.rand(3, 7, 9) * 255
    assert torch.allclose(imresize(img, 1.0), img, atol=1e-5)


@pytest.mark.parametrize("scale", [1 / 3, 1 / 2, 2.0, 3.0])
def test_constant_image_stays_constant(scale: float) -> None:
    img = torch.full((2, 1, 12, 9), 77.0)
    out = imresize(img, scale)
    assert out.shape == (2, 1, output_length(12, scale), output_length(9, scale))
    assert torch.allclose(out, torch.full_like(out, 77.0), atol=1e-4)


def test_output_size_is_matlab_ceil() -> None:
    assert output_length(288, 1 / 3) == 96
    assert output_length(7, 1 / 2) == 4
    assert imresize(torch.zeros(1, 7, 5), 0.5).shape == (1, 4, 3)


def test_uint8_passes_give_integers_in_range() -> None:
    gen = torch.Generator().manual_seed(0)
    img = torch.randint(0, 256, (3, 16, 12), generator=gen).float()
    for scale in (0.5, 3.0):
        out = imresize(img, scale, round_uint8_passes=True)
        assert torch.equal(out, out.round())
        assert out.min() >= 0 and out.max() <= 255
    # Bicubic overshoots: without rounding/saturation values leave 0..255 on a checkerboard.
    board = (torch.arange(8).view(-1, 1) + torch.arange(8)).remainder(2).float() * 255
    assert imresize(board.unsqueeze(0), 2.0).max() > 255
    assert imresize_uint8(board.unsqueeze(0), 2.0).max() == 255


def test_passes_are_rounded_rows_first() -> None:
    """The uint8 result differs from rounding only once: the per-pass rounding is real."""
    gen = torch.Generator().manual_seed(1)
    img = torch.randint(0, 256, (3, 40, 40), generator=gen).float()
    per_pass = imresize(img, 1 / 3, round_uint8_passes=True)
    once = torch.floor(imresize(img.double(), 1 / 3) + 0.5).clamp(0, 255).float()
    assert not torch.equal(per_pass, once)


def test_matches_resize_right_float_path() -> None:
    """Cross-check of MATLAB float semantics against resize-right (NumPy, symmetric padding)."""
    resize_right = pytest.importorskip("resize_right")
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 255, size=(12, 18))  # divisible by 2 and 3, as resize-right needs
    for scale in (1 / 3, 1 / 2, 2.0, 3.0):
        ref = resize_right.resize(
            img,
            scale_factors=[scale, scale],
            interp_method=resize_right.interp_methods.cubic,
            pad_mode="symmetric",
        )
        ours = imresize(torch.from_numpy(img).unsqueeze(0), scale)[0].numpy()
        assert ours.shape == ref.shape
        assert np.allclose(ours, ref, atol=1e-8)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="floating-point"):
        imresize(torch.zeros(1, 4, 4, dtype=torch.uint8), 0.5)
    with pytest.raises(ValueError, match="C,H,W"):
        imresize(torch.zeros(4, 4), 0.5)
    with pytest.raises(ValueError, match="scale"):
        imresize(torch.zeros(1, 4, 4), 0.0)
    with pytest.raises(ValueError, match="integer-valued"):
        imresize(torch.full((1, 4, 4), 0.5), 0.5, round_uint8_passes=True)
    with pytest.raises(ValueError, match="floating-point"):
        imresize_uint8(torch.zeros(1, 4, 4, dtype=torch.uint8), 2.0)
