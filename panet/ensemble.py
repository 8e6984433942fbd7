"""×8 geometric self-ensemble (the "+" results of the restoration literature, e.g. "PANet+").

The input is flipped/transposed into the 8 elements of the dihedral group, each is restored,
mapped back, and the 8 results are averaged. Order and arithmetic follow the authors'
``forward_x8`` (PANet / EDSR-PyTorch): variant ``i`` applies, in this order, a width flip when
bit 0 of ``i`` is set, a height flip for bit 1, a height/width transpose for bit 2; the output is
undone in the reverse order (transpose, height flip, width flip) and the mean is taken over the
variants in index order.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Forward = Callable[[Tensor], Tensor]


def _flip_width(x: Tensor) -> Tensor:
    return x.flip(-1)


def _flip_height(x: Tensor) -> Tensor:
    return x.flip(-2)


def _transpose(x: Tensor) -> Tensor:
    # Contiguous like the authors' numpy copies, so the network sees the same memory layout.
    return x.transpose(-2, -1).contiguous()


def dihedral_variant(x: Tensor, index: int) -> Tensor:
    """Variant ``index`` (0–7) of ``x [..., H, W]``: bit 0 flips width, 1 height, 2 transposes."""
    if not 0 <= index < 8:
        raise ValueError(f"dihedral variant index must be in 0..7; got {index}")
    if index & 1:
        x = _flip_width(x)
    if index & 2:
        x = _flip_height(x)
    if index & 4:
        x = _transpose(x)
    return x


def undo_dihedral_variant(y: Tensor, index: int) -> Tensor:
    """Inverse of :func:`dihedral_variant` for the same ``index``."""
    if not 0 <= index < 8:
        raise ValueError(f"dihedral variant index must be in 0..7; got {index}")
    if index & 4:
        y = _transpose(y)
    if index & 2:
        y = _flip_height(y)
    if index & 1:
        y = _flip_width(y)
    return y


def self_ensemble(forward: Forward, x: Tensor) -> Tensor:
    """Average of ``forward`` over the 8 flips/transposes of ``x``, each mapped back.

    Args:
        forward: network or closure (e.g. around :func:`panet.tiling.chop`),
            ``[B, C, h, w] -> [B, C_out, s*h, s*w]``; it must accept transposed (W × H) inputs.
        x: ``[B, C, H, W]`` in ``forward``'s input range.

    Returns:
        ``[B, C_out, s*H, s*W]``, the per-image mean of the 8 restored variants, in
        ``forward``'s output range and dtype. Each image of the batch is averaged on its own
        (the authors' code averages over the whole concatenated batch, which equals this for
        their batch size of 1).
    """
    if x.dim() != 4:
        raise ValueError(f"expected an image batch shaped [B, C, H, W]; got {tuple(x.shape)}")
    outputs = [undo_dihedral_variant(forward(dihedral_variant(x, i)), i) for i in range(8)]
    return torch.stack(outputs, dim=0).mean(dim=0)
