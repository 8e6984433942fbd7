"""Motion-blur kernels (camera shake and straight lines), their application, the degradation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data.degradations import MotionBlur
from data.motion_blur import (
    ShakeParameters,
    apply_psf,
    fit_to_kernel,
    line_psf,
    max_extent,
    render_psf,
    rng_from,
    shake_psf,
    shake_trajectory,
)
from data.seeding import eval_generator


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _support(psf: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(psf)
    return int(np.ptp(rows)) + 1, int(np.ptp(cols)) + 1


@pytest.mark.parametrize("seed", range(12))
def test_shake_kernels_are_non_negative_sum_one_and_inside_the_square(seed: int) -> None:
    rng = np.random.default_rng(seed)
    psf = shake_psf(rng, size=15, length=60.0, exposure=1.0, max_anxiety=0.1)
    assert psf.shape == (15, 15) and psf.dtype == np.float64
    assert psf.min() >= 0 and psf.sum() == pytest.approx(1.0, abs=1e-12)
    # The extent bound is kernel_size - 3 px, +2 for the bilinear splat's neighbours.
    height, width = _support(psf)
    assert height <= 14 and width <= 14
    assert (psf > 0).sum() > 1  # a 60 px path is blurred, not a delta


def test_shake_kernels_are_deterministic_and_vary_with_the_seed() -> None:
    blur = MotionBlur(kernel_size=17)
    assert np.array_equal(blur.kernel(_gen(3)), blur.kernel(_gen(3)))
    assert not np.array_equal(blur.kernel(_gen(3)), blur.kernel(_gen(4)))
    # numpy's PCG64 stream is fixed: the first draw of seed 0 is pinned across machines.
    assert rng_from(_gen(0)).bit_generator.state == rng_from(_gen(0)).bit_generator.state


def test_trajectory_has_the_arc_length_and_is_centred() -> None:
    rng = np.random.default_rng(1)
    params = ShakeParameters.sample(rng, 0.1)
    points = shake_trajectory(rng, 30.0, params, samples=500)
    steps = np.abs(np.diff(points))
    assert steps.sum() == pytest.approx(30.0, rel=1e-9)
    assert np.allclose(steps, 30.0 / 499)
    assert points.real.max() == pytest.approx(-points.real.min())
    assert points.imag.max() == pytest.approx(-points.imag.min())


def test_no_anxiety_gives_a_straight_path() -> None:
    points = shake_trajectory(np.random.default_rng(2), 10.0, ShakeParameters(0, 0.5, 5, 0.1))
    direction = points[-1] - points[0]
    assert abs(direction) == pytest.approx(10.0)
    cross = (points - points[0]) * np.conj(direction) / abs(direction)
    assert np.abs(cross.imag).max() < 1e-9


def test_long_paths_are_shrunk_to_fit_and_short_ones_kept() -> None:
    points = np.array([-20 + 0j, 20 + 3j])
    fitted = fit_to_kernel(points, 11)
    assert np.ptp(fitted.real) == pytest.approx(max_extent(11))
    small = np.array([-1 + 0j, 1 + 0j])
    assert np.array_equal(fit_to_kernel(small, 11), small)


def test_shorter_exposure_integrates_a_prefix_of_the_path() -> None:
    points = np.linspace(-4, 4, 81) + 0j
    full, part = render_psf(points, 11, 1.0), render_psf(points, 11, 0.25)
    assert (part > 0).sum() < (full > 0).sum()
    assert set(zip(*np.nonzero(part), strict=True)) <= set(zip(*np.nonzero(full), strict=True))
    assert np.nonzero(part.sum(axis=0))[0].max() <= 3  # only the left end of the path


def test_line_kernels_have_their_length_and_angle() -> None:
    horizontal = line_psf(11, 6.0, 0.0)
    assert np.array_equal(np.nonzero(horizontal.sum(axis=1))[0], [5])
    assert np.array_equal(np.nonzero(horizontal.sum(axis=0))[0], np.arange(2, 9))
    vertical = line_psf(11, 6.0, 90.0)
    np.testing.assert_allclose(vertical, horizontal.T, atol=1e-15)
    diagonal = line_psf(11, 6.0, 45.0)
    assert diagonal.min() >= 0 and diagonal.sum() == pytest.approx(1.0)
    # 45 degrees counter-clockwise with rows pointing down: the line rises to the right.
    assert diagonal[2, 8] > 0 and diagonal[8, 2] > 0 and diagonal[2, 2] == 0


def test_apply_psf_is_a_true_convolution() -> None:
    gen = torch.Generator().manual_seed(0)
    img = torch.rand(2, 9, 12, generator=gen, dtype=torch.float64) * 255
    psf = np.zeros((5, 5))
    psf[2, 2], psf[2, 4] = 0.75, 0.25  # weight 1/4 on the pixel two columns to the right
    out = apply_psf(img, psf)
    # out[p] = sum_q psf[q] img[p - q]: tap (0, +2) takes the pixel two to the LEFT.
    expected = 0.75 * img[:, :, 2:] + 0.25 * img[:, :, :-2]
    torch.testing.assert_close(out[:, :, 2:], expected, rtol=0, atol=1e-12)
    reference = torch.nn.functional.conv2d(
        torch.nn.functional.pad(img[:, None], (2, 2, 2, 2), mode="replicate"),
        torch.from_numpy(psf[::-1, ::-1].copy())[None, None],
    )[:, 0]
    torch.testing.assert_close(out, reference, rtol=0, atol=1e-10)
    delta = np.zeros((3, 3))
    delta[1, 1] = 1
    assert torch.equal(apply_psf(img, delta), img)


def test_motion_blur_degradation_contract() -> None:
    gt = torch.randint(0, 256, (3, 40, 44), generator=_gen(1)).float()
    blur = MotionBlur(kernel_size=11, length=(8, 20))
    lq = blur(gt, _gen(2))
    assert lq.shape == gt.shape and lq.dtype == gt.dtype
    assert lq.min() >= 0 and lq.max() <= 255 and torch.equal(lq, lq.round())
    assert torch.equal(lq, blur(gt, _gen(2))) and not torch.equal(lq, gt)
    assert blur.scale == 1 and blur.margin == 5
    assert blur.describe()["name"] == "motion_blur" and blur.describe()["length"] == [8.0, 20.0]
    # Blur keeps a constant image constant (sum 1); noise after blurring does not.
    flat = torch.full((3, 24, 24), 100.0)
    assert torch.equal(blur(flat, _gen(3)), flat)
    noisy = MotionBlur(kernel_size=11, noise_sigma=5.0, round=False)(flat, _gen(3))
    assert (noisy - flat).std().item() == pytest.approx(5.0, rel=0.1)


def test_linear_motion_and_evaluation_seeding() -> None:
    blur = MotionBlur(kind="linear", kernel_size=9, length=(3, 6), angle=(0, 180))
    psf = blur.kernel(eval_generator("img1", blur))
    assert np.array_equal(psf, blur.kernel(eval_generator("img1", blur)))
    assert not np.array_equal(psf, blur.kernel(eval_generator("img2", blur)))
    assert "angle" in blur.describe() and "exposure" not in blur.describe()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kernel_size": 16}, "odd integer"),
        ({"kernel_size": 1}, "odd integer"),
        ({"kind": "spin"}, "kind"),
        ({"kind": "linear", "kernel_size": 9, "length": 7}, "length"),
        ({"length": (5, 2)}, "length"),
        ({"exposure": 0}, "exposure"),
        ({"noise_sigma": -1}, "noise_sigma"),
        ({"length": "long"}, "length"),
    ],
)
def test_bad_motion_blur_parameters(kwargs: dict, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        MotionBlur(**kwargs)


def test_motion_blur_needs_a_generator() -> None:
    with pytest.raises(TypeError, match="torch.Generator"):
        MotionBlur()(torch.zeros(3, 8, 8))
