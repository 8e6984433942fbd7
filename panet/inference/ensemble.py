"""×8 geometric self-ensemble (the "+" results of the restoration literature, e.g. "PANet+").

The input is flipped/transposed into the 8 elements of the dihedral group
(``panet.imaging.dihedral``), each is restored, mapped back, and the 8 results are averaged in
variant order, as the authors' ``forward_x8`` (PANet / EDSR-PyTorch) does.
"""

from __future__ import annotations

import torch
from torch import Tensor

from panet.imaging.dihedral import N_DIHEDRAL, dihedral_variant, undo_dihedral_variant
from panet.inference.pieces import Forward, check_batch


def self_ensemble(forward: Forward, x: Tensor) -> Tensor:
    """Average of ``forward`` over the 8 flips/transposes of ``x``, each mapped back.

    Args:
        forward: network or closure (e.g. around :func:`panet.inference.chop.chop`),
            ``[B, C, h, w] -> [B, C_out, s*h, s*w]``; it must accept transposed (W × H) inputs.
        x: ``[B, C, H, W]`` in ``forward``'s input range.

    Returns:
        ``[B, C_out, s*H, s*W]``, the per-image mean of the 8 restored variants, in
        ``forward``'s output range and dtype. Each image of the batch is averaged on its own
        (the authors' code averages over the whole concatenated batch, which equals this for
        their batch size of 1).
    """
    check_batch(x)
    outputs = [undo_dihedral_variant(forward(dihedral_variant(x, i)), i) for i in range(N_DIHEDRAL)]
    return torch.stack(outputs, dim=0).mean(dim=0)
