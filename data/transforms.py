"""Crops of image tensors for training patches (the 8 flips/transposes of the augmentation are
`panet.imaging.dihedral`, shared with the x8 self-ensemble).

All functions take tensors [..., C, H, W] (any dtype and range; values are only moved, never
changed) and index rows and columns from the top-left corner.
"""

from __future__ import annotations

import torch


def crop(img: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
    """The window [top:top+height, left:left+width] of [..., C, H, W]; must lie inside."""
    h, w = img.shape[-2:]
    if top < 0 or left < 0 or top + height > h or left + width > w:
        raise ValueError(
            f"crop {height}x{width} at ({top}, {left}) does not fit in an image of {h}x{w}"
        )
    return img[..., top : top + height, left : left + width]


def random_aligned_box(
    lq_height: int, lq_width: int, patch_size: int, generator: torch.Generator
) -> tuple[int, int]:
    """Top-left corner (row, col) of a uniformly random patch_size window in the LQ grid.

    Multiplying the corner by the scale gives the matching, scale-aligned window of the
    ground truth, so LQ and GT patches cover the same area exactly.
    """
    top = int(torch.randint(lq_height - patch_size + 1, (1,), generator=generator))
    left = int(torch.randint(lq_width - patch_size + 1, (1,), generator=generator))
    return top, left
