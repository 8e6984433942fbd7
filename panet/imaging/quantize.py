"""The one rule by which this project turns real-valued pixels into 8-bit values.

MATLAB's ``uint8(x)``: round half away from zero, then saturate to 0..255. The published
benchmark inputs and the authors' saved outputs were made that way (``imresize`` on uint8
images rounds every pass like this; ``rgb2ycbcr`` on uint8 input; ``imwrite`` of a clamped
result), so degradations, MATLAB ``imresize``, the Y channel of the CAR task, the scoring
protocols, PNG writing and the image panels all call ``quantize_uint8``. ``torch.round``
rounds halves to even and would differ from MATLAB on exact halves (e.g. 2.5 -> 2, not 3).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _round_half_up(magnitude: Tensor) -> Tensor:
    """Non-negative float64 values rounded to integers, halves up. Exact: the fractional part
    ``m - floor(m)`` has no rounding error, so values just below a half are never pushed up
    (``floor(m + 0.5)`` does that for 0.49999999999999994)."""
    whole = magnitude.floor()
    return whole + (magnitude - whole >= 0.5).to(torch.float64)


def round_half_away(x: Tensor) -> Tensor:
    """``x`` rounded to integers, halves away from zero (MATLAB's ``round``), float64."""
    x = x.double()
    return _round_half_up(x.abs()).copysign(x)


def quantize_uint8(img: Tensor) -> Tensor:
    """MATLAB's ``uint8(img)`` as float64 values: round half away from zero, clamp to 0..255.

    Args:
        img: any shape, any real dtype, on the 0–255 scale.

    Returns:
        float64 tensor of the same shape holding integers in 0..255.
    """
    # Saturating first gives the same integers and leaves only non-negative values to round.
    return _round_half_up(img.double().clamp(0.0, 255.0))
