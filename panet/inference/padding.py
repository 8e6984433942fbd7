"""The one adapter between a network and the image runners: final output, size multiple.

Two network properties matter when whole images of any size go through a network:

* multi-stage networks (MPRNet) return several outputs, final first (the official order
  ``[stage3, stage2, stage1]``); evaluation uses the first, training may supervise all;
* some networks only accept sizes that are multiples of a number (``input_multiple``: 8 for
  MPRNet's three down-samplings, the up-factor for CSNLN's cross-scale matching). Inputs are
  padded by reflection at the bottom and right, as MPRNet's official demo does, and the output
  is cropped back, so a piece of any size comes back with exactly ``scale`` times its size.

Padding happens per call of the network, i.e. inside chop, tiles and each of the 8 flips, so
every piece those runners cut is valid whatever its size. Each call is also a stop point
(``panet.stop.check_stop``): a signal stops inference within one network call.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from panet.inference.pieces import Forward
from panet.stop import check_stop


def input_multiple(net: nn.Module) -> int:
    """The multiple that input heights and widths must have (1 when the network has none)."""
    multiple = int(getattr(net, "input_multiple", 1))
    if multiple < 1:
        raise ValueError(f"{type(net).__name__}.input_multiple must be >= 1; got {multiple}")
    return multiple


def final_output(y: Tensor | Sequence[Tensor]) -> Tensor:
    """The restored image of a network's output: itself, or the first of a list of stages."""
    if isinstance(y, Tensor):
        return y
    if len(y) == 0:
        raise ValueError("the network returned an empty list of outputs")
    return y[0]


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """``x`` padded at the bottom/right to the next multiple (reflection; replication where a
    side is too short to reflect)."""
    pad_h, pad_w = -x.shape[-2] % multiple, -x.shape[-1] % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    reflectable = pad_h < x.shape[-2] and pad_w < x.shape[-1]
    return F.pad(x, (0, pad_w, 0, pad_h), mode="reflect" if reflectable else "replicate")


def network_forward(net: nn.Module) -> Forward:
    """``net`` as a ``[B, C, h, w] -> [B, C', s*h, s*w]`` function for any ``h, w``."""
    multiple = input_multiple(net)
    scale = int(getattr(net, "scale", 1))

    def forward(x: Tensor) -> Tensor:
        check_stop()  # between pieces, tiles, flips and images: a signal stops within one call
        height, width = x.shape[-2:]
        y = final_output(net(pad_to_multiple(x, multiple)))
        return y[..., : scale * height, : scale * width]

    return forward
