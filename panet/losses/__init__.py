"""Training criteria on network-range tensors (plain PyTorch/kornia, no Lightning).

``pixel`` (Charbonnier, clamping a criterion's input), ``edge`` (MPRNet's Laplacian edge loss),
``composite`` (weighted sums of criteria, and the deep supervision of multi-output networks:
one criterion summed over every output).
"""

from panet.losses.composite import WeightedSum, loss_over_outputs
from panet.losses.edge import EdgeLoss, laplacian_residual
from panet.losses.pixel import CharbonnierLoss, Clamped

__all__ = [
    "CharbonnierLoss",
    "Clamped",
    "EdgeLoss",
    "WeightedSum",
    "laplacian_residual",
    "loss_over_outputs",
]
