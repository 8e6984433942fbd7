"""Synthetic rain streaks: sparse random drops smeared along one direction.

A rain layer is made the way deraining benchmarks' synthetic rain usually is: a sparse field
of random drops (each pixel becomes a drop with probability ``density``, with a random
intensity in [0.5, 1]) is smeared along a straight line of ``length`` pixels at an angle
``angle`` degrees from the vertical, as motion blur would smear falling drops during the
exposure. The smear uses the sub-pixel line PSF of ``data.motion_blur`` scaled by the line
length, so a streak keeps roughly its drop's intensity instead of fading as it gets longer.
The drops are drawn on a canvas larger than the image by the streak's reach, so streaks enter
from outside the frame instead of stopping short at its border.

The layer is in [0, 1]; ``composite_rain`` adds it, times a ``brightness`` on the 0–255 scale,
to the image (the additive rain model O = B + R of the deraining literature), clamped.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from data.motion_blur import apply_psf, line_psf


def streak_kernel_size(length: float) -> int:
    """The smallest odd kernel side that holds a line of ``length`` pixels at any angle."""
    size = int(math.ceil(length)) + 3
    return size if size % 2 else size + 1


def rain_layer(
    rng: np.random.Generator,
    height: int,
    width: int,
    *,
    density: float,
    length: float,
    angle: float,
) -> torch.Tensor:
    """One layer of rain streaks: float64 ``[1, height, width]`` in [0, 1].

    Args:
        rng: numpy generator (``data.motion_blur.rng_from`` of the caller's torch generator).
        density: probability that a canvas pixel holds a drop, in [0, 1].
        length: streak length in pixels (>= 1).
        angle: streak direction in degrees from the vertical (positive leans right at the top).
    """
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"rain density must lie in [0, 1]; got {density}")
    if not length >= 1.0:
        raise ValueError(f"rain streak length must be >= 1 pixel; got {length}")
    size = streak_kernel_size(length)
    reach = size // 2
    canvas = (height + 2 * reach, width + 2 * reach)
    drops = rng.uniform(size=canvas) < density
    intensity = rng.uniform(0.5, 1.0, size=canvas)
    field = torch.from_numpy(np.where(drops, intensity, 0.0))[None]
    psf = line_psf(size, length, 90.0 - angle)
    streaks = apply_psf(field, psf * max(length, 1.0))
    return streaks[:, reach : reach + height, reach : reach + width].clamp(0.0, 1.0)


def composite_rain(img: torch.Tensor, layer: torch.Tensor, brightness: float) -> torch.Tensor:
    """``img`` [C, H, W] 0–255 plus ``brightness`` x ``layer`` [1, H, W] on every channel,
    clamped to [0, 255], float64 (rain is colourless: the same on every channel)."""
    return (img.double() + brightness * layer.to(img.device)).clamp(0.0, 255.0)


__all__ = ["composite_rain", "rain_layer", "streak_kernel_size"]
