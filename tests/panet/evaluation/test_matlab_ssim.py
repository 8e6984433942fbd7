"""MATLAB's ``ssim`` (window "matlab"): a 3-D volume for RGB, replicate padding, full-size map.

Checked against two re-statements written here — scipy.ndimage's separable Gaussian filter
(``mode="nearest"`` is replicate padding; ``truncate`` sets the 5-sample radius) and a brute
force with the full 11x11x11 (or 11x11) Gaussian on an edge-padded array — and against
properties MATLAB's definition implies.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from panet.evaluation.metrics import matlab_ssim_map, ssim, ssim_window_1d
from panet.evaluation.protocols import Protocol

C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def _pair(channels: int = 3, height: int = 14, width: int = 17, seed: int = 0):
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 256, (channels, height, width)).astype(np.float64)
    pred = np.clip(gt + rng.normal(0, 30, gt.shape), 0, 255).round()
    return pred, gt


def _ssim_map_from(blur, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    return ((2 * mx * my + C1) * (2 * cov + C2)) / ((mx**2 + my**2 + C1) * (vx + vy + C2))


def _scipy_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # x: [C, H, W]; MATLAB filters an HxWxC volume in 3-D, a matrix in 2-D.
    sigma = (1.5, 1.5, 1.5) if x.shape[0] == 3 else (0, 1.5, 1.5)

    def blur(t: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(t, sigma, mode="nearest", truncate=5 / 1.5)

    return _ssim_map_from(blur, x, y)


def _brute_force_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Explicit correlation with the full Gaussian cube (or square) on an edge-padded array."""
    offsets = np.arange(-5, 6)
    if x.shape[0] == 3:
        d, r, c = np.meshgrid(offsets, offsets, offsets, indexing="ij")
        kernel = np.exp(-(d**2 + r**2 + c**2) / (2 * 1.5**2))
        pad = ((5, 5), (5, 5), (5, 5))
    else:
        r, c = np.meshgrid(offsets, offsets, indexing="ij")
        kernel = np.exp(-(r**2 + c**2) / (2 * 1.5**2))[None]
        pad = ((0, 0), (5, 5), (5, 5))
    kernel /= kernel.sum()

    def blur(t: np.ndarray) -> np.ndarray:
        padded = np.pad(t, pad, mode="edge")
        out = np.zeros_like(t)
        kd = kernel.shape[0]
        for ch in range(t.shape[0]):
            for i in range(t.shape[1]):
                for j in range(t.shape[2]):
                    out[ch, i, j] = (padded[ch : ch + kd, i : i + 11, j : j + 11] * kernel).sum()
        return out

    return _ssim_map_from(blur, x, y)


@pytest.mark.parametrize("channels", [3, 1])
def test_matlab_ssim_equals_scipy_and_brute_force_restatements(channels: int) -> None:
    pred, gt = _pair(channels, 12, 15)
    ours = matlab_ssim_map(torch.from_numpy(pred), torch.from_numpy(gt)).numpy()
    assert ours.shape == pred.shape  # the map has the image's size (replicate padding)
    np.testing.assert_allclose(ours, _scipy_map(pred, gt), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours, _brute_force_map(pred, gt), rtol=0, atol=1e-12)
    score = ssim(torch.from_numpy(pred), torch.from_numpy(gt), "matlab")
    assert score == pytest.approx(float(_scipy_map(pred, gt).mean()), abs=1e-14)


def test_the_window_is_matlabs_radius_and_sigma() -> None:
    w = ssim_window_1d("matlab")
    assert w.shape == (2 * int(np.ceil(3 * 1.5)) + 1,) == (11,)
    assert torch.equal(w, ssim_window_1d("gaussian"))


def test_colour_channels_mix_unlike_the_per_channel_mean() -> None:
    pred, gt = (torch.from_numpy(a) for a in _pair(3, 24, 24, seed=1))
    volume = ssim(pred, gt, "matlab")
    per_channel = np.mean([ssim(pred[c : c + 1], gt[c : c + 1], "matlab") for c in range(3)])
    assert abs(volume - per_channel) > 1e-3
    # A grey image replicated to RGB: every channel slice of the volume sees the same values,
    # so the 3-D score equals the 2-D score of the one channel.
    grey_pred, grey_gt = pred[:1].expand(3, -1, -1), gt[:1].expand(3, -1, -1)
    assert ssim(grey_pred, grey_gt, "matlab") == pytest.approx(
        ssim(pred[:1], gt[:1], "matlab"), abs=1e-14
    )


def test_properties_identity_symmetry_and_small_images() -> None:
    pred, gt = (torch.from_numpy(a) for a in _pair(3, 9, 7))
    assert ssim(gt, gt, "matlab") == pytest.approx(1.0, abs=1e-14)
    assert ssim(pred, gt, "matlab") == pytest.approx(ssim(gt, pred, "matlab"), abs=1e-14)
    # Unlike the valid-window SSIM, MATLAB's pads, so images smaller than 11x11 are scored.
    assert 0 < ssim(pred, gt, "matlab") < 1
    # Differs from Wang's valid-window Gaussian SSIM of the same images.
    big_pred, big_gt = (torch.from_numpy(a) for a in _pair(3, 30, 30, seed=2))
    assert abs(ssim(big_pred, big_gt, "matlab") - ssim(big_pred, big_gt, "gaussian")) > 1e-4


def test_a_known_value_worked_by_hand() -> None:
    # Constant images a and b: every local variance and covariance is 0, so the map is the
    # luminance term (2ab + C1) / (a^2 + b^2 + C1) everywhere.
    a, b = torch.full((3, 5, 6), 100.0), torch.full((3, 5, 6), 110.0)
    expected = (2 * 100 * 110 + C1) / (100**2 + 110**2 + C1)
    assert ssim(a, b, "matlab") == pytest.approx(expected, abs=1e-12)


def test_mprnet_protocols() -> None:
    rng = np.random.default_rng(3)
    gt = torch.from_numpy(rng.integers(0, 256, (3, 16, 18)).astype(np.float32))
    pred = (gt + torch.from_numpy(rng.normal(0, 8, gt.shape)).float()).clamp(0, 255)
    gopro = Protocol("rgb", 0, "matlab").score(pred, gt)
    quantized = pred.double().round()
    mse = ((quantized - gt.double()) ** 2).mean().item()
    assert gopro["psnr"] == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-10)
    assert gopro["ssim"] == pytest.approx(
        float(_scipy_map(quantized.numpy(), gt.double().numpy()).mean()), abs=1e-12
    )
