"""The seed section of a multirun summary: jobs that differ only by seed, taken together.

``callbacks/multirun_summary.py`` calls :func:`seed_section` with the sweep's jobs. When some
configuration ran (or was meant to run) under more than one seed it returns:

- a Markdown table, one row per configuration: its swept overrides, ``n`` (seeds with results),
  the seeds (and the *missing* ones: a failed or unfinished job, or a seed of ``seeds=`` with
  no job), then per PSNR/SSIM metric ``mean ± half-width`` of the 95 % Student t interval;
- with a ``baseline`` (``model=resnet``): one row per other configuration with the difference
  from its baseline paired by seed, its interval and a verdict per PSNR metric
  (``+0.21 dB, CI [+0.12, +0.30]`` / ``within noise (...)``);
- the same numbers as CSV (``summary_seeds.csv``, ``summary_paired.csv``), one line per
  configuration (and baseline) and metric.

The grouping and the statistics are ``panet.report.seeds`` / ``panet.report.stats``, shared
with ``python -m panet.report``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from panet.report.markdown import csv_text, markdown_table
from panet.report.seeds import (
    Configuration,
    baseline_pairs,
    compare,
    group_replicates,
    has_replicates,
    is_configuration_key,
    pairs_text,
    parse_baseline,
    plain_key,
    seed_list,
    seeds_text,
    sorted_seeds,
)
from panet.report.stats import interval_text, verdict

#: Metric names whose replicates are summarized (``{stage}/{set}/{name}``).
SUMMARIZED = ("psnr", "ssim")
#: The metric compared seed by seed against the baseline (in dB).
COMPARED = "psnr"
DIGITS = {"psnr": 2, "ssim": 4}


class Job(Protocol):
    """What the section reads of a job (``callbacks.multirun_summary.JobRecord``)."""

    overrides: dict[str, str]
    metrics: dict[str, int | float]
    status: str
    folder: object


@dataclass
class SeedSection:
    """The section's Markdown lines and its two CSV files (empty text: no file)."""

    markdown: list[str] = field(default_factory=list)
    seeds_csv: str = ""
    paired_csv: str = ""


def summarized_metrics(jobs: Sequence[Job]) -> list[str]:
    """The PSNR/SSIM metrics of the test stage (the validation stage when no job tested), in
    sorted order: ``test/Set5/psnr``, ``test/Set5/ssim``, ..."""
    keys = sorted({k for job in jobs for k in job.metrics})
    for stage in ("test/", "val/"):
        chosen = [k for k in keys if k.startswith(stage) and k.rsplit("/", 1)[-1] in SUMMARIZED]
        if chosen:
            return chosen
    return []


def metric_name(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def configurations_of(jobs: Sequence[Job]) -> list[Configuration]:
    return group_replicates(
        (job.overrides, job.metrics if job.status == "ok" else None, str(job.folder))
        for job in jobs
    )


def expected_seeds(configurations: Sequence[Configuration], configured: Sequence[int]) -> list:
    """Every seed some job of the sweep ran under, plus those ``seeds=`` asked for."""
    seen = [r.seed for c in configurations for r in c.replicates]
    return sorted_seeds([*seen, *(str(s) for s in configured)])


def setting_columns(override_columns: Sequence[str]) -> list[str]:
    """The summary's override columns that tell configurations apart (no seed, no plumbing)."""
    return [k for k in override_columns if is_configuration_key(k)]


def setting_cells(configuration: Configuration, columns: Sequence[str]) -> list[str]:
    return [configuration.settings.get(plain_key(k), "") for k in columns]


def seeds_cell(configuration: Configuration, expected: Sequence) -> str:
    text = seeds_text(configuration.seeds) or "none"
    missing = configuration.missing(expected)
    return f"{text} (missing: {seeds_text(missing)})" if missing else text


def seed_section(
    jobs: Sequence[Job],
    override_columns: Sequence[str],
    baseline: str | None = None,
    configured_seeds: Sequence[int] = (),
) -> SeedSection:
    """The section for ``jobs`` (empty when no configuration has several seeds)."""
    configurations = configurations_of(jobs)
    if not has_replicates(configurations) and len(configured_seeds) < 2:
        return SeedSection()
    expected = expected_seeds(configurations, configured_seeds)
    metrics = summarized_metrics(jobs)
    columns = setting_columns(override_columns)
    section = SeedSection()
    rows, lines = [], []
    for configuration in configurations:
        estimates = {m: configuration.estimate(m) for m in metrics}
        cells = [
            "–" if e is None else interval_text(e, DIGITS[metric_name(m)])
            for m, e in estimates.items()
        ]
        settings = setting_cells(configuration, columns)
        rows.append(
            [*settings, str(len(configuration.seeds)), seeds_cell(configuration, expected), *cells]
        )
        missing = seeds_text(configuration.missing(expected))
        for metric, estimate in estimates.items():
            lines.append(
                [
                    *settings,
                    metric,
                    *(
                        ("", "", "", "", "")
                        if estimate is None
                        else (
                            str(estimate.n),
                            repr(estimate.mean),
                            "" if estimate.sd is None else repr(estimate.sd),
                            "" if estimate.low is None else repr(estimate.low),
                            "" if estimate.high is None else repr(estimate.high),
                        )
                    ),
                    seeds_text(configuration.seeds),
                    missing,
                ]
            )
    section.markdown = [
        f"## Seeds: mean ± 95 % CI (Student t) over {seeds_text(expected)}",
        "",
        *markdown_table([*columns, "n", "seeds", *metrics], rows),
        "",
    ]
    section.seeds_csv = csv_text(
        [*columns, "metric", "n", "mean", "sd", "ci_low", "ci_high", "seeds", "missing_seeds"],
        lines,
    )
    if baseline:
        paired_markdown, section.paired_csv = paired_section(
            configurations, columns, metrics, baseline
        )
        section.markdown += paired_markdown
    return section


def paired_section(
    configurations: Sequence[Configuration],
    columns: Sequence[str],
    metrics: Sequence[str],
    baseline: str,
) -> tuple[list[str], str]:
    """Markdown lines and CSV text of the differences from the baseline, paired by seed."""
    compared = [m for m in metrics if metric_name(m) == COMPARED]
    title = f"## Paired differences vs {baseline} (per seed; mean and 95 % CI)"
    expected = sorted_seeds(r.seed for c in configurations for r in c.replicates)
    try:
        pairs = baseline_pairs(configurations, parse_baseline(baseline))
    except ValueError as error:
        return [title, "", f"No comparison: {error}.", ""], ""
    rows, lines = [], []
    for configuration, base in pairs:
        comparisons = [compare(configuration, base, m) for m in compared]
        settings = setting_cells(configuration, columns)
        count = pairs_text(comparisons, configuration.missing(expected), base.missing(expected))
        rows.append(
            [
                *settings,
                count,
                *(
                    "no common seed" if c.difference is None else verdict(c.difference)
                    for c in comparisons
                ),
            ]
        )
        base_text = " ".join(
            f"{k}={v}" for k, v in zip(columns, setting_cells(base, columns), strict=True)
        )
        for comparison in comparisons:
            estimate = comparison.difference
            lines.append(
                [
                    *settings,
                    base_text,
                    comparison.metric,
                    len(comparison.paired),
                    "" if estimate is None else repr(estimate.mean),
                    "" if estimate is None or estimate.low is None else repr(estimate.low),
                    "" if estimate is None or estimate.high is None else repr(estimate.high),
                    "no common seed" if estimate is None else verdict(estimate),
                    seeds_text(comparison.paired),
                    seeds_text(comparison.unpaired),
                ]
            )
    if not rows:
        return [title, "", "No configuration other than the baseline.", ""], ""
    markdown = [title, "", *markdown_table([*columns, "pairs", *compared], rows), ""]
    header = [*columns, "baseline", "metric", "pairs", "mean_diff", "ci_low", "ci_high"]
    header += ["verdict", "paired_seeds", "unpaired_seeds"]
    return markdown, csv_text(header, lines)


def configured_seed_list(seeds: object) -> list[int]:
    """The seeds a ``seeds=`` value asks for ([] when unset or not understood: the summary
    never fails a sweep)."""
    if seeds is None:
        return []
    try:
        return seed_list(seeds)
    except ValueError:
        return []


__all__ = ["SeedSection", "configured_seed_list", "seed_section", "summarized_metrics"]
