"""Motion-blur point-spread functions: camera-shake trajectories and straight-line motion.

Camera shake follows the model of Boracchi & Foi, "Modeling the Performance of Image
Restoration From Motion Blur" (IEEE TIP 2012): the camera position is a 2-D random walk with
inertia (the velocity keeps its magnitude and changes direction a little at each step), pulled
back towards the origin (a centripetal term), perturbed by Gaussian jitter and, now and then,
by an impulsive shake that reverses the motion. The trajectory is sampled at many sub-pixel
positions; the sensor integrates the first ``exposure`` fraction of them, and each sample is
splatted onto the 4 nearest pixels of the kernel grid with bilinear weights. The kernel is the
normalised sum: non-negative, summing to 1, inside a ``size`` x ``size`` square.

Straight-line motion (``line_psf``) is rendered the same way from a straight trajectory, so
both kinds share one sub-pixel rasteriser (a line of any real length and angle, not only the
odd pixel lengths of a kernel library's line kernels).

Everything here is numpy float64 driven by a ``numpy.random.Generator``; callers derive that
generator from their torch generator (``rng_from``), so a kernel is a pure function of the
torch generator's state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

#: Trajectory samples per kernel (the model's time resolution; each is splatted at sub-pixel
#: precision, so more samples give smoother kernels, not longer ones).
DEFAULT_SAMPLES = 1000


def rng_from(generator: torch.Generator) -> np.random.Generator:
    """A numpy generator seeded by one draw from ``generator`` (PCG64: same on every machine)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, dtype=torch.int64))
    return np.random.default_rng(seed)


@dataclass(frozen=True)
class ShakeParameters:
    """The random-walk constants of one trajectory (Boracchi & Foi's model).

    Attributes:
        anxiety: overall amount of direction change per step (0 = a straight line).
        centripetal: strength of the pull back towards the starting point.
        jitter: standard deviation of the Gaussian perturbation of the velocity.
        shake_rate: probability (times ``anxiety``) of an impulsive shake at a step.
    """

    anxiety: float
    centripetal: float
    jitter: float
    shake_rate: float

    @staticmethod
    def sample(rng: np.random.Generator, max_anxiety: float) -> ShakeParameters:
        """Random constants in the model's usual ranges, anxiety uniform in [0, max_anxiety]."""
        return ShakeParameters(
            anxiety=float(rng.uniform(0.0, max_anxiety)),
            centripetal=float(rng.uniform(0.0, 0.7)),
            jitter=float(rng.uniform(0.0, 10.0)),
            shake_rate=float(rng.uniform(0.0, 0.2)),
        )


def shake_trajectory(
    rng: np.random.Generator,
    length: float,
    params: ShakeParameters,
    samples: int = DEFAULT_SAMPLES,
) -> np.ndarray:
    """A camera-shake path of total arc length ``length`` pixels, as ``samples`` complex points.

    The walk moves by exactly ``length / (samples - 1)`` per step (the velocity is renormalised
    after every update), so the arc length is fixed and the extent is at most ``length``.
    Returns complex128 ``[samples]`` positions (real = x, imaginary = y), centred on the middle
    of their bounding box.
    """
    if samples < 2:
        raise ValueError(f"a trajectory needs at least 2 samples; got {samples}")
    if not length >= 0:
        raise ValueError(f"trajectory length must be >= 0 pixels; got {length}")
    step = length / (samples - 1)
    # All random numbers are drawn up front (vectorised); the recurrence itself is sequential.
    start_angle = rng.uniform(0.0, 2.0 * math.pi)
    shake_draws = rng.uniform(size=samples - 1)
    shake_turns = rng.uniform(-0.5, 0.5, size=samples - 1)
    jitters = rng.standard_normal((samples - 1, 2))
    velocity = complex(math.cos(start_angle), math.sin(start_angle)) * step
    position = 0j
    points = np.empty(samples, dtype=np.complex128)
    points[0] = position
    for t in range(samples - 1):
        if step == 0.0:
            points[t + 1] = position
            continue
        shake = 0j
        if shake_draws[t] < params.shake_rate * params.anxiety:
            # An impulsive shake: a push roughly opposite to the current motion.
            shake = (
                2.0
                * velocity
                * complex(math.cos(math.pi + shake_turns[t]), math.sin(math.pi + shake_turns[t]))
            )
        jitter = complex(jitters[t, 0], jitters[t, 1])
        drift = params.anxiety * (params.jitter * jitter - params.centripetal * position) * step
        velocity = velocity + shake + drift
        magnitude = abs(velocity)
        velocity = velocity / magnitude * step if magnitude > 0 else velocity
        position = position + velocity
        points[t + 1] = position
    centre = complex(
        (points.real.max() + points.real.min()) / 2, (points.imag.max() + points.imag.min()) / 2
    )
    return points - centre


def line_trajectory(
    length: float, angle_degrees: float, samples: int = DEFAULT_SAMPLES
) -> np.ndarray:
    """A straight path of ``length`` pixels at ``angle_degrees`` (0 = horizontal, counter-
    clockwise with y pointing down the rows), centred on the origin; complex ``[samples]``."""
    if not length >= 0:
        raise ValueError(f"line length must be >= 0 pixels; got {length}")
    direction = complex(
        math.cos(math.radians(angle_degrees)), -math.sin(math.radians(angle_degrees))
    )
    offsets = np.linspace(-0.5, 0.5, samples) * length
    return offsets * direction


def max_extent(size: int) -> float:
    """Largest trajectory extent (pixels, per axis) whose bilinear splat fits a size x size grid."""
    return float(size - 3)


def render_psf(points: np.ndarray, size: int, exposure: float = 1.0) -> np.ndarray:
    """Rasterise the first ``exposure`` fraction of a centred trajectory into a PSF.

    Args:
        points: complex positions centred on the origin (``shake_trajectory``, ``line_trajectory``).
        size: odd kernel side; the origin lands on the central pixel.
        exposure: fraction (0, 1] of the trajectory the shutter integrates.

    Returns:
        float64 ``[size, size]``, non-negative, summing to 1 (row = y, column = x).
    """
    if size < 3 or size % 2 == 0:
        raise ValueError(f"kernel size must be an odd integer >= 3; got {size}")
    if not 0.0 < exposure <= 1.0:
        raise ValueError(f"exposure must lie in (0, 1]; got {exposure}")
    count = max(1, int(round(exposure * len(points))))
    used = points[:count]
    half = (size - 1) / 2
    x, y = used.real + half, used.imag + half
    limit = size - 1.0
    if x.min() < 0 or y.min() < 0 or x.max() > limit or y.max() > limit:
        raise ValueError(
            f"the trajectory (extent {np.ptp(used.real):.1f} x {np.ptp(used.imag):.1f} px) does "
            f"not fit a {size}x{size} kernel; lower its length to at most {max_extent(size):g}"
        )
    col0 = np.minimum(np.floor(x).astype(np.int64), size - 2)
    row0 = np.minimum(np.floor(y).astype(np.int64), size - 2)
    fx, fy = x - col0, y - row0
    psf = np.zeros((size, size), dtype=np.float64)
    for dr, dc, weight in (
        (0, 0, (1 - fy) * (1 - fx)),
        (0, 1, (1 - fy) * fx),
        (1, 0, fy * (1 - fx)),
        (1, 1, fy * fx),
    ):
        np.add.at(psf, (row0 + dr, col0 + dc), weight)
    return psf / psf.sum()


def shake_psf(
    rng: np.random.Generator,
    *,
    size: int,
    length: float,
    exposure: float,
    max_anxiety: float,
    samples: int = DEFAULT_SAMPLES,
) -> np.ndarray:
    """One random camera-shake PSF: ``[size, size]`` float64, non-negative, sum 1.

    ``length`` is the path's arc length in pixels; ``max_anxiety`` bounds how shaky it is.
    """
    params = ShakeParameters.sample(rng, max_anxiety)
    points = shake_trajectory(rng, length, params, samples)
    return render_psf(fit_to_kernel(points, size), size, exposure)


def fit_to_kernel(points: np.ndarray, size: int) -> np.ndarray:
    """Shrink a centred trajectory whose extent exceeds ``max_extent(size)`` to fit the kernel.

    ``length`` is an arc length: a shaky path of 40 px usually spans far fewer pixels, so
    paths are kept as they are unless they would leave the kernel, and only those are scaled
    down (the kernel size is the bound on the blur's extent).
    """
    extent = max(float(np.ptp(points.real)), float(np.ptp(points.imag)))
    limit = max_extent(size)
    return points * (limit / extent) if extent > limit else points


def line_psf(size: int, length: float, angle_degrees: float) -> np.ndarray:
    """A straight-motion PSF of ``length`` px at ``angle_degrees``: ``[size, size]``, sum 1."""
    if length > max_extent(size):
        raise ValueError(
            f"line length {length} px does not fit a {size}x{size} kernel; use at most "
            f"{max_extent(size):g} (or a larger kernel_size)"
        )
    samples = max(2, int(math.ceil(length * 8)) + 1)  # 1/8 px steps: no gaps between splats
    return render_psf(line_trajectory(length, angle_degrees, samples), size)


def apply_psf(img: torch.Tensor, psf: np.ndarray) -> torch.Tensor:
    """Blur ``[C, H, W]`` by ``psf`` (true convolution, each channel alike), in float64.

    Written as a sum of shifted copies, one per non-zero tap (a trajectory PSF has a few dozen
    of its size x size taps), in a fixed order of element-wise float64 operations: exact and
    identical on every machine, and much faster than float64 ``conv2d`` on CPU.
    Borders are replicate-padded so the output keeps the input's size; the data pipeline cuts
    its patches with a margin of the PSF radius and discards that border
    (``data.degradations.MotionBlur.margin``), so no padded pixel reaches a target.
    """
    size = psf.shape[0]
    radius = size // 2
    height, width = img.shape[-2:]
    x = img.double().unsqueeze(0)
    x = torch.nn.functional.pad(x, (radius, radius, radius, radius), mode="replicate")[0]
    out = torch.zeros(img.shape, dtype=torch.float64, device=img.device)
    rows, cols = np.nonzero(psf)
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        # out[p] += psf[q] * img[p - q]: tap (r, c) reads the padded window at (k-1-r, k-1-c).
        top, left = size - 1 - r, size - 1 - c
        out.add_(x[:, top : top + height, left : left + width], alpha=float(psf[r, c]))
    return out


__all__ = [
    "DEFAULT_SAMPLES",
    "ShakeParameters",
    "apply_psf",
    "fit_to_kernel",
    "line_psf",
    "line_trajectory",
    "max_extent",
    "render_psf",
    "rng_from",
    "shake_psf",
    "shake_trajectory",
]
