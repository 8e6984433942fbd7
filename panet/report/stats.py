"""Statistics of repeated runs: the mean of a few seeds with its Student t confidence interval,
and the paired difference of two configurations trained with the same seeds.

The distributions come from SciPy (``scipy.stats.t``); this module only decides what is
computed and how it reads. With n values the interval is ``mean ± t(1 - α/2, n - 1) · s / √n``
(``s`` the sample standard deviation); one value has no interval. A paired difference is the
mean of the per-seed differences with the same interval over those differences: the seed's
share of the noise (initialisation, sample order) cancels, so it is tighter than comparing two
unpaired means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: The default confidence level of every interval.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    """A mean over ``n`` values with its ``confidence`` interval [low, high] (None when n < 2)."""

    mean: float
    n: int
    sd: float | None
    low: float | None
    high: float | None
    confidence: float = CONFIDENCE

    @property
    def half_width(self) -> float | None:
        """Half the interval's width (the ``±`` of ``mean ± h``); None without an interval."""
        return None if self.low is None or self.high is None else (self.high - self.low) / 2

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely above or below 0 (False without an interval)."""
        if self.low is None or self.high is None:
            return False
        return self.low > 0 or self.high < 0


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """The mean of ``values`` and its two-sided Student t interval at ``confidence``."""
    from scipy import stats  # imported on use: reading runs needs no SciPy

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    data = [float(v) for v in values]
    if not data:
        raise ValueError("an estimate needs at least one value")
    if not all(math.isfinite(v) for v in data):
        raise ValueError(f"values must be finite numbers, got {data}")
    n = len(data)
    mean = math.fsum(data) / n
    if n < 2:
        return Estimate(mean, n, None, None, None, confidence)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in data) / (n - 1))
    if sd == 0:  # identical values: no spread to scale the t quantile by
        return Estimate(mean, n, 0.0, mean, mean, confidence)
    low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=sd / math.sqrt(n))
    return Estimate(mean, n, sd, float(low), float(high), confidence)


def paired_difference(
    treatment: Sequence[float], baseline: Sequence[float], confidence: float = CONFIDENCE
) -> Estimate:
    """``treatment - baseline`` paired element by element (the same seed at the same index):
    the mean difference and its Student t interval."""
    if len(treatment) != len(baseline):
        raise ValueError(
            f"paired values must come in pairs; got {len(treatment)} and {len(baseline)}"
        )
    return mean_interval([t - b for t, b in zip(treatment, baseline, strict=True)], confidence)


def signed(value: float, digits: int) -> str:
    """``+0.21`` / ``-0.05`` (never ``-0.00``)."""
    text = f"{value:+.{digits}f}"
    return text.replace("-", "+", 1) if float(text) == 0 else text


def interval_text(estimate: Estimate, digits: int = 2, unit: str = "") -> str:
    """``31.10 ± 0.05`` (``31.10`` alone when n = 1)."""
    suffix = f" {unit}" if unit else ""
    if estimate.half_width is None:
        return f"{estimate.mean:.{digits}f}{suffix}"
    return f"{estimate.mean:.{digits}f} ± {estimate.half_width:.{digits}f}{suffix}"


def verdict(difference: Estimate, digits: int = 2, unit: str = "dB") -> str:
    """A paired difference in words: ``+0.21 dB, CI [+0.12, +0.30]`` when the interval
    excludes 0, ``within noise (+0.03 dB, CI [-0.05, +0.11])`` when it holds 0, and
    ``+0.20 dB, n = 1: no interval`` with a single pair."""
    suffix = f" {unit}" if unit else ""
    shown = f"{signed(difference.mean, digits)}{suffix}"
    if difference.low is None or difference.high is None:
        return f"{shown}, n = {difference.n}: no interval"
    bounds = f"CI [{signed(difference.low, digits)}, {signed(difference.high, digits)}]"
    if difference.excludes_zero:
        return f"{shown}, {bounds}"
    return f"within noise ({shown}, {bounds})"


__all__ = [
    "CONFIDENCE",
    "Estimate",
    "interval_text",
    "mean_interval",
    "paired_difference",
    "signed",
    "verdict",
]
