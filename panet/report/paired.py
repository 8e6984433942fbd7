"""``python -m panet.report ... --baseline KEY=VALUE``: every configuration against a baseline,
seed by seed.

Per task and degradation setting, our runs are grouped into configurations (jobs that differ
only by seed, ``panet.report.seeds``); the baseline is the configuration whose override
``KEY`` has ``VALUE`` (``pyramid.positions=[]``, ``model=resnet``). For each other
configuration and test set: the PSNR difference from its baseline over the seeds both have,
its 95 % Student t interval and a verdict (``+0.21 dB, CI [+0.12, +0.30]`` or
``within noise (...)``), with the seeds that could not be paired and those whose jobs left no
results (unfinished jobs, a seed another configuration has).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from panet.report.markdown import LEFT, RIGHT, csv_text, markdown_table
from panet.report.runs import RunResult, UnfinishedJob
from panet.report.seeds import (
    Comparison,
    Configuration,
    Replicate,
    baseline_pairs,
    compare,
    configuration_of,
    group_replicates,
    is_baseline,
    pairs_text,
    parse_baseline,
    seed_of,
    seeds_text,
    sorted_seeds,
)
from panet.report.stats import verdict

#: The metric compared (in dB).
METRIC = "psnr"


@dataclass
class PairedRow:
    """One configuration against its baseline: per test set, the comparison."""

    settings: list[str]
    comparisons: dict[str, Comparison]
    missing: list[str | None]
    baseline_missing: list[str | None]


@dataclass
class PairedTable:
    """The comparisons of one task and setting (``denoise``, ``sigma=30``)."""

    task: str
    setting: str
    baseline: str
    keys: list[str]
    sets: list[str]
    rows: list[PairedRow] = field(default_factory=list)


def configurations(
    runs: Sequence[RunResult], unfinished: Sequence[UnfinishedJob]
) -> list[Configuration]:
    """The runs' configurations (metrics ``{set: PSNR}``), with the unfinished jobs that share
    one of them as replicates without results."""
    found = group_replicates(
        (
            # the seed may come from meta.seed rather than an override
            {**run.overrides, **({} if run.seed is None else {"seed": run.seed})},
            {name: values[METRIC] for name, values in run.scores.items() if METRIC in values},
            str(run.path.parent),
        )
        for run in runs
    )
    for job in unfinished:
        settings = configuration_of(job.overrides)
        for configuration in found:
            if configuration.settings == settings:
                seed = seed_of(job.overrides)
                configuration.replicates.append(Replicate(seed, None, str(job.folder)))
    return found


def varying_keys(found: Sequence[Configuration], baseline_key: str) -> list[str]:
    """The keys whose values differ between configurations, the baseline's key first."""
    keys = [baseline_key]
    for configuration in found:
        keys.extend(k for k in configuration.settings if k not in keys)
    return [k for k in keys if k == baseline_key or len({c.settings.get(k) for c in found}) > 1]


def paired_tables(
    runs: Sequence[RunResult], unfinished: Sequence[UnfinishedJob], baseline: str
) -> list[PairedTable]:
    """One table per task and setting that has the baseline; ValueError when none has it."""
    key_value = parse_baseline(baseline)
    tables, values_seen = [], set()
    groups = dict.fromkeys((run.task, run.setting) for run in runs)
    for task, setting in groups:
        group = [run for run in runs if (run.task, run.setting) == (task, setting)]
        found = configurations(group, unfinished)
        values_seen |= {c.settings[key_value[0]] for c in found if key_value[0] in c.settings}
        if not any(is_baseline(c, key_value) for c in found):
            continue
        expected = sorted_seeds(r.seed for c in found for r in c.replicates)
        keys = varying_keys(found, key_value[0])
        sets = list(dict.fromkeys(name for run in group for name in run.scores))
        table = PairedTable(task, setting, f"{key_value[0]}={key_value[1]}", keys, sets)
        for configuration, base in baseline_pairs(found, key_value):
            table.rows.append(
                PairedRow(
                    [configuration.settings.get(k, "(default)") for k in keys],
                    {name: compare(configuration, base, name) for name in sets},
                    configuration.missing(expected),
                    base.missing(expected),
                )
            )
        tables.append(table)
    if not tables:
        key = key_value[0]
        shown = ", ".join(sorted(values_seen)) if values_seen else f"no run sets {key}"
        raise ValueError(f"no run has the baseline {baseline}; the runs' values of {key}: {shown}")
    return tables


def comparison_text(comparison: Comparison | None) -> str:
    if comparison is None:
        return "–"
    if comparison.difference is None:
        return "no common seed"
    return verdict(comparison.difference)


def to_markdown(table: PairedTable) -> str:
    setting = f", {table.setting}" if table.setting else ""
    header = [*table.keys, "pairs", *table.sets]
    lines = [
        f"### Paired differences vs {table.baseline} ({table.task}{setting})",
        "",
        "PSNR of each configuration minus its baseline's, seed by seed: mean and 95 % CI "
        "(Student t); *within noise* when the interval holds 0.",
        "",
    ]
    rows = []
    for row in table.rows:
        comparisons = list(row.comparisons.values())
        cells = [*row.settings, pairs_text(comparisons, row.missing, row.baseline_missing)]
        cells += [comparison_text(row.comparisons.get(name)) for name in table.sets]
        rows.append(cells)
    align = [LEFT] * len(table.keys) + [RIGHT] * (1 + len(table.sets))
    lines += markdown_table(header, rows, align)
    return "\n".join(lines) + "\n"


def to_csv(tables: Sequence[PairedTable]) -> str:
    """One line per table, configuration and set: the difference, its interval, the verdict
    and the seeds."""
    header = [
        "task",
        "setting",
        "baseline",
        "configuration",
        "set",
        "pairs",
        "mean_diff_db",
        "ci_low",
        "ci_high",
        "verdict",
        "paired_seeds",
        "unpaired_seeds",
        "missing_seeds",
    ]
    lines = []
    for table in tables:
        for row in table.rows:
            label = " ".join(f"{k}={v}" for k, v in zip(table.keys, row.settings, strict=True))
            for name, comparison in row.comparisons.items():
                estimate = comparison.difference
                lines.append(
                    [
                        table.task,
                        table.setting,
                        table.baseline,
                        label,
                        name,
                        len(comparison.paired),
                        "" if estimate is None else repr(estimate.mean),
                        "" if estimate is None or estimate.low is None else repr(estimate.low),
                        "" if estimate is None or estimate.high is None else repr(estimate.high),
                        comparison_text(comparison),
                        seeds_text(comparison.paired),
                        seeds_text(comparison.unpaired),
                        seeds_text(row.missing),
                    ]
                )
    return csv_text(header, lines)


__all__ = ["PairedRow", "PairedTable", "paired_tables", "to_csv", "to_markdown"]
