"""One report table per published table: the paper's rows, our runs' rows and, under each of
ours, its difference from the published row of the same configuration (else from the table's
reference method). Columns are the paper's (set, setting) pairs; a run whose columns appear in
no table of its task adds its own columns to the task's main (first) table, and a task without
a published table gets a table of our runs alone.

Runs that differ only by seed share a row: its cells are the mean over the seeds, with the 95 %
Student t interval (``panet.report.stats``) and n; the seeds of unfinished jobs of the same
configuration are listed as missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from panet.report.published import PublishedRow, PublishedTable
from panet.report.runs import RunResult, UnfinishedJob
from panet.report.seeds import configuration_of, seed_of, sorted_seeds
from panet.report.stats import Estimate, mean_interval

#: (set, setting), e.g. ("Urban100", "sigma=30").
Column = tuple[str, str]
PAPER, OURS, DIFF = "paper", "ours", "diff"
#: Overrides that say where or how a run ran, or which table column it fills, not what it is:
#: left out of our rows' labels.
IGNORED_OVERRIDES: tuple[str, ...] = (
    "paths",
    "hydra",
    "trainer.devices",
    "trainer.num_nodes",
    "trainer.accelerator",
    "data.num_workers",
    "data.test_sets",
    "data.val_sets",
    "logger",
    "callbacks",
    "run_name",
    "tags",
    "print_config",
    "resume",
    "test",
    "ckpt_path",
    "ckpt",
    "save_images",
    "degradation",
    "task",
    "experiment",
    "hparams_search",
    "seed",
    "seeds",
    "baseline",
)


@dataclass
class Row:
    """A table row: ``cells[column] = {"psnr": .., "ssim": ..}``; for our rows the mean over
    seeds, with ``intervals`` (n >= 2), the ``seeds`` and the ``missing`` ones."""

    label: str
    kind: str
    cells: dict[Column, dict[str, float]] = field(default_factory=dict)
    params_k: float | None = None
    note: str = ""
    intervals: dict[Column, dict[str, Estimate]] = field(default_factory=dict)
    seeds: list[str | None] = field(default_factory=list)
    missing: list[str | None] = field(default_factory=list)
    #: ``{column: {metric: {seed: value}}}`` behind the means.
    by_seed: dict[Column, dict[str, dict[str | None, float]]] = field(
        default_factory=dict, repr=False
    )

    @property
    def n(self) -> int:
        return len(self.seeds)

    def add_run(self, run: RunResult, columns: Sequence[Column]) -> None:
        """One more seed of this row's configuration (a repeated seed replaces the values)."""
        self.seeds = sorted_seeds([*self.seeds, run.seed])
        for column in columns:
            for metric, value in run.scores[column[0]].items():
                self.by_seed.setdefault(column, {}).setdefault(metric, {})[run.seed] = value
        self._estimate()

    def _estimate(self) -> None:
        for column, metrics in self.by_seed.items():
            for metric, by_seed in metrics.items():
                estimate = mean_interval(list(by_seed.values()))
                self.cells.setdefault(column, {})[metric] = estimate.mean
                if estimate.half_width is not None:
                    self.intervals.setdefault(column, {})[metric] = estimate


@dataclass
class Table:
    spec: PublishedTable
    columns: list[Column]
    rows: list[Row]

    @property
    def has_params(self) -> bool:
        return any(row.params_k is not None for row in self.rows if row.kind != DIFF)


def ignored(key: str) -> bool:
    return any(key == name or key.startswith(name + ".") for name in IGNORED_OVERRIDES)


def fact_key(override: str) -> str:
    """The architecture fact an override sets (``pyramid.levels`` -> ``levels``)."""
    return override.split(".", 1)[1] if override.startswith(("pyramid.", "model.")) else override


def run_labels(runs: Sequence[RunResult]) -> list[str]:
    """``ours: {model} [tags]`` plus what differs between runs of the same task and model: the
    architecture facts (``levels=3``), then other overrides (``optimizer.lr=0.001``). Runs that
    differ only in the degradation share a label, so they fill one row."""
    bases = [
        f"ours: {run.model}" + (f" [{', '.join(run.tags)}]" if run.tags else "") for run in runs
    ]
    labels = []
    for run, base in zip(runs, bases, strict=True):
        group = [r for r, b in zip(runs, bases, strict=True) if b == base and r.task == run.task]
        facts = sorted({k for r in group for k in r.facts})
        varying = [k for k in facts if len({r.facts.get(k) for r in group}) > 1]
        parts = [f"{k}={run.facts.get(k, '–')}" for k in varying]
        keys = sorted({k for r in group for k in r.overrides if not ignored(k)})
        for key in keys:
            if fact_key(key) in facts or len({r.overrides.get(key) for r in group}) < 2:
                continue
            parts.append(f"{key}={run.overrides.get(key, '(default)')}")
        labels.append(f"{base} {' '.join(parts)}".rstrip())
    return labels


def run_columns(run: RunResult) -> list[Column]:
    return [(name, run.setting) for name in run.scores]


def paired_method(facts: Mapping[str, str], rows: Sequence[PublishedRow], reference: str) -> str:
    """The published method whose ``config`` all holds in ``facts`` (the most specific one),
    else ``reference``."""
    best, best_size = reference, 0
    for row in rows:
        if configuration_matches(facts, row) and len(row.config) > best_size:
            best, best_size = row.method, len(row.config)
    return best


def difference(ours: Row, paper: Row, metrics: Sequence[str], label: str) -> Row:
    """Ours minus the paper's row; our interval moves with it (the paper's has none)."""
    cells: dict[Column, dict[str, float]] = {}
    intervals: dict[Column, dict[str, Estimate]] = {}
    for column, values in ours.cells.items():
        published = paper.cells.get(column, {})
        diff = {m: values[m] - published[m] for m in metrics if m in values and m in published}
        if diff:
            cells[column] = diff
        for metric in diff:
            estimate = ours.intervals.get(column, {}).get(metric)
            if estimate is not None and estimate.low is not None and estimate.high is not None:
                shift = published[metric]
                intervals.setdefault(column, {})[metric] = Estimate(
                    estimate.mean - shift,
                    estimate.n,
                    estimate.sd,
                    estimate.low - shift,
                    estimate.high - shift,
                    estimate.confidence,
                )
    params = None
    if ours.params_k is not None and paper.params_k is not None:
        params = ours.params_k - paper.params_k
    return Row(label, DIFF, cells, params, intervals=intervals)


def paper_rows(rows: Sequence[PublishedRow]) -> dict[str, Row]:
    by_method: dict[str, Row] = {}
    for row in rows:
        entry = by_method.setdefault(row.method, Row(row.method, PAPER, note=row.note))
        values = {k: v for k, v in (("psnr", row.psnr), ("ssim", row.ssim)) if v is not None}
        entry.cells[(row.set, row.setting)] = values
        if row.params_k is not None:
            entry.params_k = row.params_k
    return by_method


def configuration_matches(facts: Mapping[str, str], row: PublishedRow) -> bool:
    return bool(row.config) and all(facts.get(k) == v for k, v in row.config.items())


def paired_tables(
    run: RunResult, specs: Sequence[PublishedTable], published: Sequence[PublishedRow]
) -> set[str]:
    """The tables of the run's task with a row of the run's configuration in a column the run
    fills (an R = 16 ablation run pairs with Tables 6-9, not with Table 1's PANet)."""
    tables = {s.table for s in specs if s.task == run.task}
    columns = set(run_columns(run))
    return {
        row.table
        for row in published
        if row.table in tables
        and (row.set, row.setting) in columns
        and configuration_matches(run.facts, row)
    }


def build_table(
    spec: PublishedTable,
    published: Sequence[PublishedRow],
    runs: Sequence[RunResult],
    extra_columns: bool,
    homes: Sequence[set[str]] | None = None,
    missing: Mapping[tuple[tuple[str, str], ...], list[str | None]] | None = None,
) -> Table:
    """The table ``spec`` with the runs of its task that fill one of its columns (or, when
    ``extra_columns``, that fill none of their task's tables: then with their own columns).
    ``homes``: per run, the tables it pairs with; a run that pairs with some table is shown
    only in those. Our rows are labelled by what differs between the runs of this table; runs
    of one label are the seeds of one row. ``missing``: per configuration
    (:func:`configuration_key`), the seeds of its unfinished jobs."""
    mine = [row for row in published if row.table == spec.table]
    papers = paper_rows(mine)
    columns: list[Column] = list(dict.fromkeys((row.set, row.setting) for row in mine))
    shown: list[tuple[RunResult, list[Column]]] = []
    for index, run in enumerate(runs):
        wanted = [c for c in run_columns(run) if c in columns or extra_columns]
        if run.task != spec.task or not wanted:
            continue
        if homes is not None and homes[index] and spec.table not in homes[index]:
            continue
        shown.append((run, wanted))
    ours: dict[str, Row] = {}
    facts: dict[str, Mapping[str, str]] = {}
    labels = run_labels([run for run, _ in shown])
    for (run, wanted), label in zip(shown, labels, strict=True):
        columns.extend(c for c in wanted if c not in columns)
        row = ours.setdefault(label, Row(label, OURS))
        row.add_run(run, wanted)
        row.params_k = run.params_k if run.params_k is not None else row.params_k
        facts.setdefault(label, run.facts)
        failed = missing.get(configuration_key(run.overrides), []) if missing else []
        row.missing = sorted_seeds(s for s in [*row.missing, *failed] if s not in row.seeds)
    rows = list(papers.values())
    for label, row in ours.items():
        rows.append(row)
        method = paired_method(facts[label], mine, spec.reference)
        if method in papers:
            diff = difference(row, papers[method], spec.metrics, f"Δ vs {method} (paper)")
            if diff.cells or diff.params_k is not None:
                rows.append(diff)
    return Table(spec, columns, rows)


def configuration_key(overrides: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """What identifies a run's configuration among seeds (``panet.report.seeds``)."""
    return tuple(sorted(configuration_of(overrides).items()))


def missing_seeds(
    unfinished: Sequence[UnfinishedJob],
) -> dict[tuple[tuple[str, str], ...], list[str | None]]:
    """Per configuration, the seeds of its unfinished jobs."""
    found: dict[tuple[tuple[str, str], ...], list[str | None]] = {}
    for job in unfinished:
        found.setdefault(configuration_key(job.overrides), []).append(seed_of(job.overrides))
    return found


def build_tables(
    specs: Sequence[PublishedTable],
    published: Sequence[PublishedRow],
    runs: Sequence[RunResult],
    include_empty: bool = False,
    unfinished: Sequence[UnfinishedJob] = (),
) -> list[Table]:
    """Every table that holds one of our runs (all of them with ``include_empty``); the seeds
    of ``unfinished`` jobs are missing from the rows of their configuration."""
    homes = [paired_tables(run, specs, published) for run in runs]
    missing = missing_seeds(unfinished)
    columns_of_task: dict[str, set[Column]] = {}
    for row in published:
        task = next(s.task for s in specs if s.table == row.table)
        columns_of_task.setdefault(task, set()).add((row.set, row.setting))
    homeless = [
        run for run in runs if not set(run_columns(run)) & columns_of_task.get(run.task, set())
    ]
    tables, main_done = [], set()
    for spec in specs:
        is_main = spec.task not in main_done
        main_done.add(spec.task)
        table = build_table(spec, published, runs, False, homes=homes, missing=missing)
        strays = [run for run in homeless if run.task == spec.task]
        if is_main and strays:
            table = merge(table, build_table(spec, published, strays, True, missing=missing))
        if include_empty or any(row.kind == OURS for row in table.rows):
            tables.append(table)
    for task in dict.fromkeys(run.task for run in runs if run.task not in main_done):
        spec = PublishedTable(
            task,
            task,
            f"{task}: our runs (no published table)",
            ("psnr", "ssim"),
            "",
            "our runs only",
        )
        tables.append(build_table(spec, [], runs, extra_columns=True, missing=missing))
    return tables


def merge(table: Table, more: Table) -> Table:
    """``table`` plus the runs rows and columns of ``more`` (same spec)."""
    columns = table.columns + [c for c in more.columns if c not in table.columns]
    extra = [row for row in more.rows if row.kind != PAPER]
    return Table(table.spec, columns, table.rows + extra)


__all__ = ["DIFF", "OURS", "PAPER", "Column", "Row", "Table", "build_tables", "run_labels"]
