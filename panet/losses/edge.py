"""MPRNet's edge loss (Zamir et al. 2021, Eq. 3): Charbonnier distance between the first
Laplacian-pyramid residuals of prediction and target.

The residual is ``x - G(U(D(G(x))))``: ``G`` filters each channel with the 5x5 outer product of
the Burt-Adelson kernel ``[.05, .25, .4, .25, .05]`` (replicate padding), ``D`` keeps every
second row and column, ``U`` puts those samples back into a zero image at their places, times
4 (the energy the zeros removed).
"""

from __future__ import annotations

import torch
from kornia.filters import filter2d
from torch import Tensor, nn

from panet.losses.pixel import CharbonnierLoss

#: The 1-D Burt-Adelson kernel (a = 0.4) the 5x5 smoothing kernel is the outer product of.
BURT_ADELSON_1D: tuple[float, ...] = (0.05, 0.25, 0.4, 0.25, 0.05)


def smoothing_kernel() -> Tensor:
    """``[1, 5, 5]`` float32: the outer product of ``BURT_ADELSON_1D`` with itself."""
    k = torch.tensor(BURT_ADELSON_1D)
    return torch.outer(k, k)[None]


def laplacian_residual(x: Tensor, kernel: Tensor) -> Tensor:
    """``[B, C, H, W]`` -> same shape: ``x`` minus its smoothed, 2x decimated, zero-inserted
    (x4) and smoothed again copy. ``kernel``: ``[1, k, k]``, applied to every channel."""
    smoothed = filter2d(x, kernel, border_type="replicate")
    zero_inserted = torch.zeros_like(smoothed)
    zero_inserted[..., ::2, ::2] = 4 * smoothed[..., ::2, ::2]
    return x - filter2d(zero_inserted, kernel, border_type="replicate")


class EdgeLoss(nn.Module):
    """Charbonnier loss between ``laplacian_residual`` of prediction and target.

    Args:
        eps: the Charbonnier constant (1e-3 in MPRNet).
    """

    def __init__(self, eps: float = 1e-3) -> None:
        super().__init__()
        self.distance = CharbonnierLoss(eps)
        self.register_buffer("kernel", smoothing_kernel(), persistent=False)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """``pred``/``target``: ``[B, C, H, W]``, same shape -> scalar."""
        kernel = self.kernel.to(pred.dtype)
        return self.distance(laplacian_residual(pred, kernel), laplacian_residual(target, kernel))
