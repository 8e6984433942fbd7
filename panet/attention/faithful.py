"""Faithful pyramid attention: the authors' algorithm step by step (Mei et al., 2020).

Per batch element, key patches of every pyramid level are unfolded, L2-normalized and used as
the kernels of a convolution over the (zero-padded, *not* normalized) query embedding; one
softmax runs over all keys of all levels jointly; a transposed convolution whose kernels are the
value patches pastes the weighted patches back, and the sum is divided by 4 (a constant of the
authors' code, kept whatever the patch size). This is the reference the fast implementation in
``panet.attention.fast`` is tested against; it materializes the full ``[M, H, W]`` score map.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

#: Lower bound of a key patch's L2 norm (the authors' ``escape_NaN`` buffer).
KEY_NORM_EPS = 1e-4
#: Fixed divisor of the pasted output (the authors' constant, kept for checkpoint compatibility).
OUTPUT_DIVISOR = 4.0


def check_attention_inputs(
    query: Tensor, keys: Sequence[Tensor], values: Sequence[Tensor], patch_size: int
) -> None:
    """Raise ValueError unless the shapes fit ``faithful_attention``/``fast_attention``."""
    if patch_size < 1 or patch_size % 2 == 0:
        raise ValueError(f"patch_size must be a positive odd integer, got {patch_size}")
    if query.dim() != 4:
        raise ValueError(f"query must be [B, c, H, W], got shape {tuple(query.shape)}")
    if len(keys) == 0 or len(keys) != len(values):
        raise ValueError(
            f"need one key and one value map per pyramid level, got {len(keys)} keys "
            f"and {len(values)} values"
        )
    batch, channels = query.shape[:2]
    for level, (key, value) in enumerate(zip(keys, values, strict=True)):
        if key.dim() != 4 or key.shape[:2] != (batch, channels):
            raise ValueError(
                f"keys[{level}] must be [{batch}, {channels}, Hl, Wl], got {tuple(key.shape)}"
            )
        if value.dim() != 4 or value.shape[0] != batch or value.shape[2:] != key.shape[2:]:
            raise ValueError(
                f"values[{level}] must be [{batch}, C, {key.shape[2]}, {key.shape[3]}], "
                f"got {tuple(value.shape)}"
            )


def _patches(feature: Tensor, patch_size: int) -> Tensor:
    """All ``k x k`` zero-padded ('same') patches of ``feature`` [C, h, w] -> [h*w, C, k, k]."""
    channels = feature.shape[0]
    cols = F.unfold(feature.unsqueeze(0), patch_size, padding=patch_size // 2)  # [1, C*k*k, L]
    return cols[0].t().reshape(-1, channels, patch_size, patch_size)


def faithful_attention(
    query: Tensor,
    keys: Sequence[Tensor],
    values: Sequence[Tensor],
    *,
    patch_size: int,
    softmax_scale: float,
    hard: bool,
) -> Tensor:
    """Pyramid attention output (without the residual), the authors' way.

    Args:
        query: query embedding ``f(x)``, ``[B, c, H, W]`` float (any range).
        keys: key embeddings ``g(z_s)``, one ``[B, c, Hl, Wl]`` per pyramid level.
        values: value embeddings ``θ(z_s)``, one ``[B, C, Hl, Wl]`` per pyramid level.
        patch_size: odd patch size ``k`` (3 = block-wise matching, 1 = pixel-wise).
        softmax_scale: multiplier of the scores before the softmax (10 in the paper).
        hard: replace the softmax weights by the one-hot of their maximum (ties all kept).

    Returns:
        ``[B, C, H, W]``: the softmax-weighted value patches pasted at every query position
        (overlaps add up), divided by 4.
    """
    check_attention_inputs(query, keys, values, patch_size)
    pad = patch_size // 2
    outputs = []
    for b in range(query.shape[0]):
        key_patches = torch.cat([_patches(key[b], patch_size) for key in keys], dim=0)
        value_patches = torch.cat([_patches(value[b], patch_size) for value in values], dim=0)
        norms = key_patches.pow(2).sum(dim=(1, 2, 3), keepdim=True).sqrt()
        key_patches = key_patches / norms.clamp_min(KEY_NORM_EPS)
        scores = F.conv2d(query[b : b + 1], key_patches, padding=pad)  # [1, M, H, W]
        weights = F.softmax(scores * softmax_scale, dim=1)
        if hard:
            weights = (weights == weights.max(dim=1, keepdim=True).values).to(weights.dtype)
        pasted = F.conv_transpose2d(weights, value_patches, padding=pad)  # [1, C, H, W]
        outputs.append(pasted / OUTPUT_DIVISOR)
    return torch.cat(outputs, dim=0)
