"""Per-pixel criteria: Charbonnier (a smooth L1), and any criterion applied to a clamped
prediction (MPRNet's denoising recipe scores ``clamp(output, 0, 1)``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class CharbonnierLoss(nn.Module):
    """``mean(sqrt((pred - target)^2 + eps^2))`` over every element (Charbonnier et al. 1994;
    MPRNet uses eps = 1e-3 on [0, 1] images).

    Args:
        eps: smoothing constant, in the tensors' pixel units.
    """

    def __init__(self, eps: float = 1e-3) -> None:
        super().__init__()
        if not eps > 0:
            raise ValueError(f"CharbonnierLoss eps must be > 0; got {eps}")
        self.eps = eps

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """``pred``/``target``: same shape, any range -> scalar."""
        diff = pred - target
        return torch.sqrt(diff * diff + self.eps * self.eps).mean()


class Clamped(nn.Module):
    """``loss(clamp(pred, low, high), target)``: the prediction is clamped (no gradient where
    it lies outside the range), the target is not.

    Args:
        loss: the criterion applied to the clamped prediction.
        low, high: the range, in the network's pixel units (``[0, 1]`` for MPRNet).
    """

    def __init__(self, loss: nn.Module, low: float = 0.0, high: float = 1.0) -> None:
        super().__init__()
        if not low < high:
            raise ValueError(f"Clamped needs low < high; got {low}, {high}")
        self.loss = loss
        self.low, self.high = low, high

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return self.loss(pred.clamp(self.low, self.high), target)
