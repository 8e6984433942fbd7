"""PSNR and SSIM exactly as the restoration literature's MATLAB scripts define them.

Definitions (see ``shared/docs/protocols.md``):

* PSNR = 10·log10(255² / MSE) over all given pixels and channels, float64, one image.
* SSIM (Wang et al. 2004) with K = (0.01, 0.03), L = 255, *valid* filtering (only windows
  that lie fully inside the image; no padding, no downsampling), population (biased) local
  statistics, float64; for several channels the mean of the per-channel SSIMs.
  ``window="gaussian"``: 11×11 Gaussian, σ = 1.5 (the authors' evaluation script and most
  tables). ``window="box8"``: 8×8 uniform window (older JPEG-artifact-reduction tables).

``window="matlab"``: MATLAB's ``ssim`` function with its defaults, as MPRNet's GoPro/HIDE and
SIDD scripts call it (``matlab_ssim``): the same Gaussian (σ = 1.5, ``2·ceil(3σ) + 1`` = 11
taps) but *replicate* padding, so the map has the image's size and its plain mean is the score;
and an H×W×3 array is filtered as one 3-D volume (its default ``DataFormat`` "SSS": three
spatial dimensions, an 11×11×11 Gaussian with replicate padding along the colour axis too),
so colour channels mix in every local statistic instead of being scored separately.

Why not torchmetrics: ``structural_similarity_index_measure`` (1.9) reflect-pads the image
and averages the SSIM map over the padded border too, and accepts only odd kernel sizes, so
it equals neither definition; its full SSIM map cropped by the kernel radius does equal our
Gaussian SSIM. ``tests/panet/evaluation/test_metrics.py`` documents both facts. skimage's
default uses sample covariance and a 7×7 box.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

SSIMWindow = Literal["gaussian", "box8", "matlab"]
SSIM_WINDOWS: tuple[str, ...] = ("gaussian", "box8", "matlab")

_PEAK = 255.0
_K1, _K2 = 0.01, 0.03
_GAUSS_SIZE, _GAUSS_SIGMA = 11, 1.5
_BOX_SIZE = 8


def _check_pair(pred: Tensor, gt: Tensor) -> None:
    if not isinstance(pred, Tensor) or not isinstance(gt, Tensor):
        raise ValueError("pred and gt must be torch tensors shaped [C,H,W] with values 0–255")
    if pred.dim() != 3 or gt.dim() != 3:
        raise ValueError(
            f"pred and gt must be [C,H,W]; got {tuple(pred.shape)} and {tuple(gt.shape)}"
        )
    if pred.shape != gt.shape:
        raise ValueError(
            f"pred {tuple(pred.shape)} and gt {tuple(gt.shape)} differ in shape; crop or "
            "convert them to the same size and channels before scoring"
        )


def psnr(pred: Tensor, gt: Tensor) -> float:
    """PSNR in dB of one image, peak 255, over all pixels and channels, in float64.

    Args:
        pred, gt: ``[C, H, W]`` tensors on the 0–255 scale, same shape.

    Returns:
        PSNR in dB; ``inf`` when the images are identical.
    """
    _check_pair(pred, gt)
    mse = torch.mean((pred.double() - gt.double()) ** 2).item()
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(_PEAK**2 / mse)


def ssim_window_1d(window: SSIMWindow) -> Tensor:
    """The normalised 1-D factor ``[k]`` (float64) of an SSIM variant's separable window.

    Both windows are separable: the 2-D window is ``outer(w, w)``.
    """
    if window in ("gaussian", "matlab"):
        offsets = torch.arange(_GAUSS_SIZE, dtype=torch.float64) - (_GAUSS_SIZE - 1) / 2
        w = torch.exp(-(offsets**2) / (2 * _GAUSS_SIGMA**2))
    elif window == "box8":
        w = torch.ones(_BOX_SIZE, dtype=torch.float64)
    else:
        raise ValueError(f"unknown SSIM window {window!r}; choose one of {SSIM_WINDOWS}")
    return w / w.sum()


def _filter_valid(x: Tensor, w: Tensor) -> Tensor:
    """Separable valid filtering of ``[..., H, W]`` by ``outer(w, w)`` (correlation).

    Written as sums of shifted slices: float64 ``conv2d`` on CPU is tens of times slower.
    """
    k = w.shape[0]
    taps = w.tolist()
    h_out, w_out = x.shape[-2] - k + 1, x.shape[-1] - k + 1
    rows = x[..., 0:h_out, :] * taps[0]
    for i in range(1, k):
        rows.add_(x[..., i : i + h_out, :], alpha=taps[i])
    out = rows[..., :, 0:w_out] * taps[0]
    for j in range(1, k):
        out.add_(rows[..., :, j : j + w_out], alpha=taps[j])
    return out


def ssim_map(pred: Tensor, gt: Tensor, window: SSIMWindow = "gaussian") -> Tensor:
    """Per-pixel SSIM over every valid window position.

    Args:
        pred, gt: ``[C, H, W]`` tensors on the 0–255 scale, same shape, H and W at least the
            window size (11 for "gaussian", 8 for "box8").

    Returns:
        ``[C, H-k+1, W-k+1]`` float64 SSIM values.
    """
    _check_pair(pred, gt)
    w = ssim_window_1d(window).to(pred.device)
    k = w.shape[0]
    height, width = pred.shape[-2:]
    if height < k or width < k:
        raise ValueError(
            f"image {height}x{width} is smaller than the {k}x{k} SSIM window ({window})"
        )
    x, y = pred.double(), gt.double()
    mu_x, mu_y = _filter_valid(x, w), _filter_valid(y, w)
    var_x = _filter_valid(x * x, w) - mu_x**2
    var_y = _filter_valid(y * y, w) - mu_y**2
    cov = _filter_valid(x * y, w) - mu_x * mu_y
    c1, c2 = (_K1 * _PEAK) ** 2, (_K2 * _PEAK) ** 2
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return num / den


def ssim(pred: Tensor, gt: Tensor, window: SSIMWindow = "gaussian") -> float:
    """SSIM of one image (float64): for "gaussian"/"box8" the mean over valid windows, then
    over channels; for "matlab" the mean of ``matlab_ssim_map`` (see the module docstring).

    Args:
        pred, gt: ``[C, H, W]`` tensors on the 0–255 scale, same shape.
        window: "gaussian" (11×11, σ 1.5), "box8" (8×8 uniform) or "matlab" (MATLAB ``ssim``).
    """
    if window == "matlab":
        return matlab_ssim_map(pred, gt).mean().item()
    per_channel = ssim_map(pred, gt, window).flatten(1).mean(dim=1)
    return per_channel.mean().item()


def _replicate_filter(x: Tensor, w: Tensor, dim: int) -> Tensor:
    """Correlate ``x`` with the odd 1-D window ``w`` along ``dim``, replicate-padded (same size)."""
    radius = w.shape[0] // 2
    size = x.shape[dim]
    index = torch.arange(-radius, size + radius, device=x.device).clamp(0, size - 1)
    padded = x.index_select(dim, index)
    taps = w.tolist()
    out = padded.narrow(dim, 0, size) * taps[0]
    for i in range(1, len(taps)):
        out.add_(padded.narrow(dim, i, size), alpha=taps[i])
    return out


def matlab_ssim_map(pred: Tensor, gt: Tensor) -> Tensor:
    """The SSIM map of MATLAB's ``[~, map] = ssim(A, ref)`` for 8-bit images, in float64.

    MATLAB's defaults: Gaussian weighting with σ = 1.5 over a ``2·ceil(3σ) + 1`` = 11-sample
    support, replicate padding, K = (0.01, 0.03), dynamic range 255 (uint8). A 1-channel
    image is a matrix (2-D filtering); a 3-channel one is an H×W×3 volume, filtered along
    rows, columns *and* channels (the separable 3-D Gaussian, replicate-padded at both ends of
    the 3-long channel axis).

    Args:
        pred, gt: ``[C, H, W]``, C = 1 or 3, on the 0–255 scale, same shape, any size >= 1.

    Returns:
        ``[C, H, W]`` float64 SSIM values (its plain mean is MATLAB's ``ssimval``).
    """
    _check_pair(pred, gt)
    if pred.shape[0] not in (1, 3):
        raise ValueError(f"MATLAB ssim here takes 1 or 3 channels; got {pred.shape[0]}")
    w = ssim_window_1d("matlab").to(pred.device)
    dims = (1, 2) if pred.shape[0] == 1 else (0, 1, 2)

    def blur(t: Tensor) -> Tensor:
        for dim in dims:
            t = _replicate_filter(t, w, dim)
        return t

    x, y = pred.double(), gt.double()
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (_K1 * _PEAK) ** 2, (_K2 * _PEAK) ** 2
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return num / den
