"""PSNR against a swept numeric knob (e.g. ``pyramid.levels``, the shape of the paper's
Table 8): one line per test column of our runs (the mean over the runs at each value, i.e. the
seeds, with the 95 % Student t interval as error bars), the published series of the table whose
rows vary that knob, and the published baseline as a dashed line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from panet.report.published import PublishedRow
from panet.report.render import column_title
from panet.report.runs import RunResult
from panet.report.seeds import is_configuration_key
from panet.report.stats import mean_interval

#: Config prefixes stripped to find a knob among the architecture facts (pyramid.levels ->
#: levels, model.n_resblocks -> n_resblocks).
_PREFIXES = ("pyramid.", "model.")


def fact_key(knob: str) -> str:
    for prefix in _PREFIXES:
        if knob.startswith(prefix):
            return knob[len(prefix) :]
    return knob


def as_number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def knob_value(run: RunResult, knob: str) -> float | None:
    """The knob's value in a run: its override, else its architecture fact."""
    value = as_number(run.overrides.get(knob))
    return value if value is not None else as_number(run.facts.get(fact_key(knob)))


def swept_knobs(runs: Sequence[RunResult]) -> list[str]:
    """Overrides with at least two different numeric values among the runs of one task (the
    seed is a replicate, not a knob)."""
    knobs = []
    for task in dict.fromkeys(run.task for run in runs):
        group = [run for run in runs if run.task == task]
        keys = dict.fromkeys(k for run in group for k in run.overrides if is_configuration_key(k))
        for key in keys:
            values = {as_number(run.overrides.get(key)) for run in group} - {None}
            if len(values) >= 2 and key not in knobs:
                knobs.append(key)
    return knobs


def published_series(
    rows: Sequence[PublishedRow], knob: str
) -> tuple[str, list[tuple[float, float]], float | None]:
    """(label, [(knob value, PSNR)], baseline PSNR) of the published column (table, set,
    setting) in which the knob takes the most different values (at least two), among rows that
    differ only in the knob; baseline = that table's row without attention (``positions``
    empty)."""
    key = fact_key(knob)
    groups: dict[tuple[str, str, str], list[PublishedRow]] = {}
    for row in rows:
        if as_number(row.config.get(key)) is not None and row.psnr is not None:
            groups.setdefault((row.table, row.set, row.setting), []).append(row)
    best: tuple[tuple[str, str, str], list[tuple[float, float]]] | None = None
    for group_key, group in groups.items():
        others = [{k: v for k, v in row.config.items() if k != key} for row in group]
        common = max(others, key=others.count)
        points = sorted(
            (float(row.config[key]), float(row.psnr))
            for row, rest in zip(group, others, strict=True)
            if rest == common and row.psnr is not None
        )
        if len({x for x, _ in points}) >= 2 and (best is None or len(points) > len(best[1])):
            best = (group_key, points)
    if best is None:
        return "", [], None
    (table, name, setting), points = best
    baseline = next(
        (
            r.psnr
            for r in rows
            if (r.table, r.set, r.setting) == (table, name, setting)
            and r.config.get("positions") == ""
        ),
        None,
    )
    return f"paper {table} ({column_title((name, setting))})", points, baseline


def swept_runs(runs: Sequence[RunResult], knob: str) -> list[RunResult]:
    """The runs that set the knob on their command line (a sweep's jobs), when at least two
    do; else every run with a value for it."""
    chosen = [run for run in runs if as_number(run.overrides.get(knob)) is not None]
    if len(chosen) >= 2:
        return chosen
    return [run for run in runs if knob_value(run, knob) is not None]


def shares_column(series: dict[str, list[tuple[float, float]]], paper_label: str) -> bool:
    """Whether one of our series is on the published series' column (same set and setting)."""
    return any(paper_label.endswith(f"({label.removeprefix('ours: ')})") for label in series)


def aggregate_points(
    points: Sequence[tuple[float, float]],
) -> list[tuple[float, float, float | None, int]]:
    """``(x, mean y, half-width of its 95 % interval or None, n)`` per distinct x, sorted: the
    runs at one knob value are seeds of one configuration."""
    by_x: dict[float, list[float]] = {}
    for x, y in points:
        by_x.setdefault(x, []).append(y)
    aggregated = []
    for x in sorted(by_x):
        estimate = mean_interval(by_x[x])
        aggregated.append((x, estimate.mean, estimate.half_width, estimate.n))
    return aggregated


def plot_knob(
    runs: Sequence[RunResult], published: Sequence[PublishedRow], knob: str, path: Path
) -> Path:
    """Write the PNG; raises ValueError when no run has a numeric value for ``knob``."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[float, float]]] = {}
    for run in swept_runs(runs, knob):
        x = knob_value(run, knob)
        if x is None:
            continue
        for name, values in run.scores.items():
            if "psnr" in values:
                label = f"ours: {column_title((name, run.setting))}"
                series.setdefault(label, []).append((x, values["psnr"]))
    if not series:
        raise ValueError(
            f"no run has a numeric value for {knob!r}; swept knobs: {swept_knobs(runs) or 'none'}"
        )
    figure, axis = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for label, points in series.items():
        xs, ys, spreads, _ = zip(*aggregate_points(points), strict=True)
        if any(s is not None for s in spreads):
            errors = [0.0 if s is None else s for s in spreads]
            axis.errorbar(xs, ys, yerr=errors, marker="o", capsize=4, label=f"{label} (95 % CI)")
        else:
            axis.plot(xs, ys, marker="o", label=label)
    label, points, baseline = published_series(published, knob)
    # the paper's column among ours: one axis; else its own axis on the right, so neither
    # series is flattened by the other's range
    paper_axis = axis if not points or shares_column(series, label) else axis.twinx()
    if points:
        xs, ys = zip(*points, strict=True)
        paper_axis.plot(xs, ys, marker="s", linestyle="--", color="black", label=label)
    if baseline is not None:
        paper_axis.axhline(baseline, color="grey", linestyle=":", label="paper: no attention")
    if paper_axis is not axis:
        paper_axis.set_ylabel("published PSNR (dB), right axis")
        handles, texts = axis.get_legend_handles_labels()
        more, more_texts = paper_axis.get_legend_handles_labels()
        axis.legend(handles + more, texts + more_texts, fontsize=8)
    else:
        axis.legend(fontsize=8)
    all_x = [x for points in series.values() for x, _ in points]
    if all(float(x).is_integer() for x in all_x):
        from matplotlib.ticker import MaxNLocator

        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel(knob)
    axis.set_ylabel("PSNR (dB)")
    axis.set_title(f"PSNR against {knob}")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


__all__ = [
    "aggregate_points",
    "knob_value",
    "plot_knob",
    "published_series",
    "swept_knobs",
    "swept_runs",
]
