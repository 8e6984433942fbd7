"""What a network costs: parameters (total, trainable) and the FLOPs of one forward pass on a
patch, for the model summary, the loggers and ``metrics.json`` (the paper's Table 4 compares
parameter counts: PANet 5,957K, PANet-S 665K).

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` (2 per multiply-accumulate of
convolutions and matrix products; element-wise work is not counted), on the pyramid attention's
faithful formulation: the fast implementation computes the same output with kernels the
counter cannot see, so counting it would leave the attention out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from panet.attention.pyramid import PyramidAttention, resolve_implementation

#: The attention implementation whose operations the counter sees.
COUNTED_IMPLEMENTATION = "faithful"


@dataclass(frozen=True)
class ModelCost:
    """Parameters and forward FLOPs of a network on one input of ``input_shape`` ([1, C, H, W])."""

    params_total: int
    params_trainable: int
    flops_per_patch: int
    input_shape: tuple[int, ...]

    def as_dict(self) -> dict[str, int | list[int]]:
        """Plain types for JSON and loggers."""
        values = asdict(self)
        values["input_shape"] = list(self.input_shape)
        return values


def count_parameters(net: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts; a tensor shared by several modules counts once."""
    params = list(net.parameters())  # nn.Module.parameters() yields each tensor once
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return total, trainable


@contextmanager
def counted_attention(net: nn.Module) -> Iterator[None]:
    """Run every ``PyramidAttention`` of ``net`` with the implementation the counter sees."""
    modules = [m for m in net.modules() if isinstance(m, PyramidAttention)]
    saved = [m._attend for m in modules]
    faithful = resolve_implementation(COUNTED_IMPLEMENTATION)
    try:
        for module in modules:
            module._attend = faithful
        yield
    finally:
        for module, attend in zip(modules, saved, strict=True):
            module._attend = attend


def forward_flops(net: nn.Module, example: torch.Tensor) -> int:
    """FLOPs of ``net(example)`` (no gradients, the network's mode left as it was)."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counted_attention(net), counter:
        net(example)
    return int(counter.get_total_flops())


def example_input(channels: int, patch_size: int, pixel_range: float = 255.0) -> torch.Tensor:
    """A ``[1, channels, patch_size, patch_size]`` mid-grey patch in the network's pixel range
    (content does not change the count; a constant keeps it deterministic)."""
    if channels < 1 or patch_size < 1:
        raise ValueError(
            f"channels and patch_size must be positive, got {channels} and {patch_size}"
        )
    return torch.full((1, channels, patch_size, patch_size), 0.5 * float(pixel_range))


def model_cost(net: nn.Module, channels: int, patch_size: int) -> ModelCost:
    """Parameters and FLOPs of ``net`` on one ``channels`` x ``patch_size``² input patch."""
    total, trainable = count_parameters(net)
    parameter = next(net.parameters(), None)
    example = example_input(channels, patch_size, float(getattr(net, "pixel_range", 255.0)))
    if parameter is not None:
        example = example.to(parameter.device, parameter.dtype)
    return ModelCost(total, trainable, forward_flops(net, example), tuple(example.shape))


__all__ = ["ModelCost", "count_parameters", "example_input", "forward_flops", "model_cost"]
