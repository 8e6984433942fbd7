"""Means over seeds and paired differences: the Student t interval (checked against the
textbook quantile), its coverage of a constructed true difference, and the verdict's words."""

from __future__ import annotations

import math

import numpy as np
import pytest

from panet.report.stats import (
    interval_text,
    mean_interval,
    paired_difference,
    signed,
    verdict,
)

#: t(0.975, 2), from a printed table of Student's t distribution.
T_975_DF2 = 4.3027


def test_interval_of_three_values_is_the_textbook_one() -> None:
    estimate = mean_interval([1.0, 2.0, 3.0])
    assert (estimate.mean, estimate.n, estimate.sd) == (2.0, 3, 1.0)
    half = T_975_DF2 * 1.0 / math.sqrt(3)
    assert estimate.low == pytest.approx(2.0 - half, abs=1e-4)
    assert estimate.high == pytest.approx(2.0 + half, abs=1e-4)
    assert estimate.half_width == pytest.approx(half, abs=1e-4)
    assert interval_text(estimate) == "2.00 ± 2.48"
    # a wider confidence gives a wider interval
    assert mean_interval([1.0, 2.0, 3.0], confidence=0.99).half_width > estimate.half_width


def test_one_value_has_no_interval_and_equal_values_have_no_width() -> None:
    single = mean_interval([31.2])
    assert (single.mean, single.low, single.high, single.half_width) == (31.2, None, None, None)
    assert interval_text(single) == "31.20" and not single.excludes_zero
    same = mean_interval([0.5, 0.5, 0.5])
    assert (same.low, same.high, same.sd) == (0.5, 0.5, 0.0) and same.excludes_zero


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        mean_interval([])
    with pytest.raises(ValueError, match="finite"):
        mean_interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="confidence"):
        mean_interval([1.0, 2.0], confidence=95)
    with pytest.raises(ValueError, match="in pairs"):
        paired_difference([1.0, 2.0], [1.0])


def test_a_constructed_gain_is_found_and_a_null_one_is_within_noise() -> None:
    # the baseline varies a lot between seeds; the treatment adds 0.2 dB and a little noise
    baseline = [30.0, 30.5, 29.8, 30.2, 30.1]
    jitter = [0.01, -0.01, 0.02, -0.02, 0.0]
    treatment = [b + 0.2 + j for b, j in zip(baseline, jitter, strict=True)]
    gain = paired_difference(treatment, baseline)
    assert gain.mean == pytest.approx(0.2)
    assert gain.low < 0.2 < gain.high and gain.excludes_zero
    assert verdict(gain) == "+0.20 dB, CI [+0.18, +0.22]"
    # unpaired, the seed-to-seed spread of the baseline would hide the same gain
    unpaired = mean_interval(treatment).low < mean_interval(baseline).high
    assert unpaired

    null = paired_difference([30.1, 29.9, 30.05, 29.95], [30.0, 30.0, 30.0, 30.0])
    assert null.mean == pytest.approx(0.0) and not null.excludes_zero
    assert verdict(null).startswith("within noise (+0.00 dB, CI [-0.")
    assert verdict(paired_difference([30.3], [30.0])) == "+0.30 dB, n = 1: no interval"
    # SSIM: no unit, 4 digits; t(0.975, 1) = 12.706 times 0.005 is 0.0635
    ssim = verdict(paired_difference([0.91, 0.92], [0.90, 0.90]), 4, "")
    assert ssim == "within noise (+0.0150, CI [-0.0485, +0.0785])"


def test_the_interval_covers_the_true_difference_95_percent_of_the_time() -> None:
    """Many synthetic 5-seed ablations with a known true gain of 0.2 dB (per-seed noise of the
    difference 0.1 dB, a large shared seed effect): the 95 % interval holds 0.2 in about 95 %
    of them, and excludes 0 in most (the gain is 4.5 standard errors)."""
    rng = np.random.default_rng(0)
    trials, covered, detected = 2000, 0, 0
    for _ in range(trials):
        seed_effect = rng.normal(30.0, 0.5, size=5)
        baseline = seed_effect + rng.normal(0, 0.07, size=5)
        treatment = seed_effect + 0.2 + rng.normal(0, 0.07, size=5)
        estimate = paired_difference(list(treatment), list(baseline))
        covered += estimate.low <= 0.2 <= estimate.high
        detected += estimate.excludes_zero
    assert 0.93 <= covered / trials <= 0.97
    assert detected / trials > 0.9


def test_signed_never_prints_minus_zero() -> None:
    assert signed(-0.001, 2) == "+0.00" and signed(-0.006, 2) == "-0.01"
    assert signed(0.21, 2) == "+0.21"
