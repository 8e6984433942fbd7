"""Criteria built from criteria: a weighted sum (MPRNet's Charbonnier + 0.05 x edge), and deep
supervision: a network that returns several outputs is trained on all of them."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


class WeightedSum(nn.Module):
    """``sum_i weights[i] * terms[i](pred, target)``.

    Args:
        terms: the criteria, each ``(pred, target) -> scalar``.
        weights: one weight per term.
    """

    def __init__(self, terms: Sequence[nn.Module], weights: Sequence[float]) -> None:
        super().__init__()
        if len(terms) == 0 or len(terms) != len(weights):
            raise ValueError(
                f"WeightedSum needs one weight per term; got {len(terms)} terms and "
                f"{len(weights)} weights"
            )
        self.terms = nn.ModuleList(terms)
        self.weights = tuple(float(w) for w in weights)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        total = self.weights[0] * self.terms[0](pred, target)
        for weight, term in zip(self.weights[1:], self.terms[1:], strict=True):
            total = total + weight * term(pred, target)
        return total


def loss_over_outputs(
    criterion: nn.Module, outputs: Tensor | Sequence[Tensor], target: Tensor
) -> Tensor:
    """Deep supervision: ``criterion(output, target)`` summed over every output of a network
    that returns several (MPRNet's stages, each compared with the full target); a single
    tensor is scored once."""
    if isinstance(outputs, Tensor):
        return criterion(outputs, target)
    if len(outputs) == 0:
        raise ValueError("the network returned an empty list of outputs")
    total = criterion(outputs[0], target)
    for output in outputs[1:]:
        total = total + criterion(output, target)
    return total
