"""Colour conversion as MATLAB's ``rgb2ycbcr`` does it (ITU-R BT.601, studio range).

The restoration literature computes Y-channel scores (SR, JPEG artifact reduction) with
MATLAB's ``rgb2ycbcr``; any other luma formula (BT.709, full range, PIL's ``convert("L")``)
shifts PSNR by tenths of a dB, so this is the only conversion the project uses.
"""

from __future__ import annotations

import torch
from torch import Tensor

from panet.imaging.quantize import quantize_uint8

# Row of MATLAB's rgb2ycbcr matrix for Y, for R, G, B in [0, 1] and Y in [0, 255].
_Y_WEIGHTS = (65.481, 128.553, 24.966)
_Y_OFFSET = 16.0


def rgb_to_y(img: Tensor) -> Tensor:
    """Luma Y of an RGB image, BT.601 studio range, exactly MATLAB ``rgb2ycbcr``'s first channel.

    Args:
        img: ``[..., 3, H, W]`` RGB, any float or integer dtype, values 0–255.

    Returns:
        ``[..., 1, H, W]`` Y in 16–235 for inputs in 0–255, on the 0–255 scale, float64 when the
        input is float64 or integer, otherwise the input's float dtype. Not rounded: callers
        round to uint8 where the protocol says so (the CAR inputs), and keep it float where
        the protocol scores float Y (SR).
    """
    if img.dim() < 3 or img.shape[-3] != 3:
        raise ValueError(
            f"rgb_to_y expects an RGB tensor shaped [..., 3, H, W]; got shape {tuple(img.shape)}"
        )
    dtype = img.dtype if img.is_floating_point() else torch.float64
    x = img.to(dtype)
    weights = torch.tensor(_Y_WEIGHTS, dtype=torch.float64) / 255.0
    r, g, b = x.unbind(dim=-3)
    y = _Y_OFFSET + weights[0].item() * r + weights[1].item() * g + weights[2].item() * b
    return y.unsqueeze(-3)


def rgb_to_y_uint8(img: Tensor) -> Tensor:
    """MATLAB ``rgb2ycbcr`` of a uint8 RGB image, first channel: Y computed in float64 and
    rounded to uint8 values (the JPEG artifact task's input and ground truth).

    Args:
        img: ``[..., 3, H, W]`` RGB, integer-valued 0–255, any dtype.

    Returns:
        ``[..., 1, H, W]`` float32, integer values in 16–235.
    """
    return quantize_uint8(rgb_to_y(img.double())).float()
