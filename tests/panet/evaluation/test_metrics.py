"""PSNR and SSIM against brute-force definitions, and how torchmetrics differs."""

from __future__ import annotations

import math

import pytest
import torch
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from panet.evaluation.metrics import psnr, ssim, ssim_map, ssim_window_1d


def _pair(channels: int = 3, height: int = 16, width: int = 19, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    gt = torch.randint(0, 256, (channels, height, width), generator=gen).double()
    noise = torch.randn(gt.shape, generator=gen, dtype=torch.float64) * 25
    return (gt + noise).clamp(0, 255).round(), gt


def _ssim_brute_force(pred: torch.Tensor, gt: torch.Tensor, window: str) -> float:
    """Wang et al. SSIM, population statistics, every fully-inside window, loops."""
    w1 = ssim_window_1d(window)
    w2 = torch.outer(w1, w1)
    k = w2.shape[0]
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    per_channel = []
    for x_full, y_full in zip(pred.double(), gt.double(), strict=True):
        values = []
        for i in range(x_full.shape[0] - k + 1):
            for j in range(x_full.shape[1] - k + 1):
                x, y = x_full[i : i + k, j : j + k], y_full[i : i + k, j : j + k]
                mx, my = (w2 * x).sum(), (w2 * y).sum()
                vx, vy = (w2 * (x - mx) ** 2).sum(), (w2 * (y - my) ** 2).sum()
                cov = (w2 * (x - mx) * (y - my)).sum()
                values.append(
                    ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
                )
        per_channel.append(torch.stack(values).mean())
    return torch.stack(per_channel).mean().item()


def test_psnr_known_value_and_identical() -> None:
    gt = torch.zeros(1, 4, 4)
    assert psnr(gt + 1, gt) == pytest.approx(10 * math.log10(255**2), abs=1e-12)
    assert psnr(gt, gt) == math.inf


def test_psnr_equals_torchmetrics_per_image() -> None:
    pred, gt = _pair()
    ref = peak_signal_noise_ratio(pred.unsqueeze(0), gt.unsqueeze(0), data_range=255.0)
    # Same definition; torchmetrics keeps part of the arithmetic in float32.
    assert psnr(pred, gt) == pytest.approx(ref.item(), abs=1e-5)


@pytest.mark.parametrize("window", ["gaussian", "box8"])
def test_ssim_equals_brute_force_definition(window: str) -> None:
    pred, gt = _pair(channels=3, height=13, width=14)
    assert ssim(pred, gt, window) == pytest.approx(_ssim_brute_force(pred, gt, window), abs=1e-12)


@pytest.mark.parametrize("window", ["gaussian", "box8"])
def test_ssim_of_identical_is_one_and_map_is_valid_size(window: str) -> None:
    _, gt = _pair(channels=1, height=20, width=17)
    assert ssim(gt, gt, window) == pytest.approx(1.0, abs=1e-12)
    k = 11 if window == "gaussian" else 8
    assert ssim_map(gt, gt, window).shape == (1, 20 - k + 1, 17 - k + 1)


def test_gaussian_window_is_matlab_fspecial() -> None:
    w = ssim_window_1d("gaussian")
    assert w.shape == (11,) and w.sum().item() == pytest.approx(1.0, abs=1e-15)
    assert torch.equal(w, w.flip(0)) and w.argmax().item() == 5


def test_torchmetrics_default_differs_but_its_cropped_map_equals_ours() -> None:
    """torchmetrics 1.x reflect-pads and averages the border too; cropping its map fixes that."""
    pred, gt = _pair(channels=3, height=24, width=30)
    ours = ssim(pred, gt, "gaussian")
    kwargs = {"gaussian_kernel": True, "sigma": 1.5, "kernel_size": 11, "data_range": 255.0}
    default = structural_similarity_index_measure(pred[None], gt[None], **kwargs).item()
    assert abs(default - ours) > 1e-4
    _, full_map = structural_similarity_index_measure(
        pred[None], gt[None], return_full_image=True, **kwargs
    )
    cropped = full_map[..., 5:-5, 5:-5].mean().item()
    assert cropped == pytest.approx(ours, abs=1e-10)


def test_torchmetrics_cannot_do_box8() -> None:
    pred, gt = _pair()
    with pytest.raises(ValueError, match="odd"):
        structural_similarity_index_measure(
            pred[None], gt[None], gaussian_kernel=False, kernel_size=8, data_range=255.0
        )


def test_bad_inputs() -> None:
    pred, gt = _pair()
    with pytest.raises(ValueError, match="shape"):
        psnr(pred, gt[:, :-1])
    with pytest.raises(ValueError, match=r"\[C,H,W\]"):
        ssim(pred[None], gt[None])
    with pytest.raises(ValueError, match="smaller than"):
        ssim(pred[:, :10, :10], gt[:, :10, :10], "gaussian")
    with pytest.raises(ValueError, match="unknown SSIM window"):
        ssim(pred, gt, "box7")  # type: ignore[arg-type]
