"""Hydra callback: at the end of a multirun, one table of swept overrides vs. final metrics.

Every job of the sweep leaves ``{job dir}/.hydra/overrides.yaml`` (Hydra) and, when it got that
far, ``{job dir}/metrics.json`` (``train.py``: a flat JSON object of final metrics such as
``test/Kodak24/psnr``; non-numeric entries like ``meta`` are ignored). ``MultirunSummary``
scans the sweep folder for jobs and writes ``summary.md`` (markdown table) and ``summary.csv``
next to them: one row per job in job order, one column per swept override, then one column
per metric. Jobs without ``metrics.json`` (failed, killed, still running) get empty metric
cells and the status ``no metrics``. The scan works for every launcher (basic, joblib,
submitit local/SLURM) because it only reads files the jobs wrote.

When jobs differ only by ``seed`` (``seed=1,2,3`` or ``seeds=3``), ``summary.md`` adds the seed
section of ``callbacks/multirun_seeds.py`` (mean ± 95 % CI and n per configuration, the seeds
missing, and with ``baseline=`` the paired differences and verdicts), also written as
``summary_seeds.csv`` and ``summary_paired.csv``; at the end of the multirun it is printed.

Enable it in the primary config's Hydra section (``configs/hydra/callbacks/summary.yaml``)::

    hydra:
      callbacks:
        summary:
          _target_: callbacks.multirun_summary.MultirunSummary
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf

from callbacks.multirun_seeds import SeedSection, configured_seed_list, seed_section
from panet.atomic import write_text_atomic
from panet.report.markdown import csv_text, markdown_table

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
SUMMARY_MD = "summary.md"
SUMMARY_CSV = "summary.csv"
SEEDS_CSV = "summary_seeds.csv"
PAIRED_CSV = "summary_paired.csv"


@dataclass
class JobRecord:
    """One job of a sweep: its number, folder, overrides (key -> value text) and metrics."""

    num: int
    folder: Path
    overrides: dict[str, str]
    metrics: dict[str, int | float] = field(default_factory=dict)
    status: str = "ok"


def parse_overrides(overrides: list[str]) -> dict[str, str]:
    """``["a.b=1", "+c=x"]`` -> ``{"a.b": "1", "+c": "x"}``: keys keep their +/~ prefix,
    values stay as typed on the command line."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    return {o.get_key_element(): _value_text(o.input_line, o) for o in parsed}


def _value_text(line: str | None, override: Any) -> str:
    if line is not None and "=" in line:
        return line.split("=", 1)[1]
    return override.get_value_element_as_str()


def sweep_keys(task_overrides: list[str]) -> list[str]:
    """Keys of the sweep overrides (``key=a,b``, ``key=range(...)``...) among the multirun's
    command-line overrides, in command-line order."""
    parsed = OverridesParser.create().parse_overrides(task_overrides)
    return [o.get_key_element() for o in parsed if o.is_sweep_override()]


def read_metrics(path: Path) -> dict[str, int | float]:
    """The numeric top-level entries of a ``metrics.json`` (bools and nested objects skipped;
    ints stay ints)."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return {
        str(k): v for k, v in data.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }


def collect_jobs(sweep_dir: Path, output_subdir: str = ".hydra") -> list[JobRecord]:
    """All jobs under ``sweep_dir`` (any depth), sorted by job number."""
    jobs = []
    for overrides_file in sorted(sweep_dir.rglob(f"{output_subdir}/overrides.yaml")):
        job_dir = overrides_file.parent.parent
        overrides = OmegaConf.to_container(OmegaConf.load(overrides_file))
        record = JobRecord(
            num=_job_number(job_dir, output_subdir),
            folder=job_dir,
            overrides=parse_overrides([str(o) for o in overrides or []]),
        )
        metrics_file = job_dir / METRICS_FILE
        if not metrics_file.is_file():
            record.status = "no metrics"
        else:
            try:
                record.metrics = read_metrics(metrics_file)
            except ValueError as error:  # includes JSONDecodeError (a job killed mid-write)
                record.status = f"unreadable metrics: {error}"
        jobs.append(record)
    return sorted(jobs, key=lambda job: (job.num, str(job.folder)))


def _job_number(job_dir: Path, output_subdir: str) -> int:
    """``hydra.job.num`` from the job's saved Hydra config, else the trailing number of its
    folder name, else a large number (sorted last)."""
    hydra_file = job_dir / output_subdir / "hydra.yaml"
    if hydra_file.is_file():
        num = OmegaConf.select(OmegaConf.load(hydra_file), "hydra.job.num", default=None)
        if isinstance(num, int):
            return num
    match = re.search(r"(\d+)$", job_dir.name)
    return int(match.group(1)) if match else 1_000_000


def table_columns(jobs: list[JobRecord], swept: list[str]) -> tuple[list[str], list[str]]:
    """(override columns, metric columns): the swept keys plus any override whose value differs
    between jobs, in first-seen order; metric keys sorted (``test/...`` before ``val/...``)."""
    keys: list[str] = list(swept)
    for job in jobs:
        keys.extend(k for k in job.overrides if k not in keys)
    varying = [k for k in keys if k in swept or len({job.overrides.get(k) for job in jobs}) > 1]
    metrics = sorted({k for job in jobs for k in job.metrics})
    return varying, metrics


def _format(value: int | float | None) -> str:
    """Integers as they are (steps, epochs), other numbers with 4 decimals."""
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.4f}"


def write_summary(
    sweep_dir: Path,
    jobs: list[JobRecord],
    swept: list[str],
    seeds: SeedSection | None = None,
) -> tuple[Path, Path]:
    """Write ``summary.md`` and ``summary.csv`` into ``sweep_dir`` (and the seed section's
    CSV files when it has them); returns the paths of the first two."""
    override_cols, metric_cols = table_columns(jobs, swept)
    header = ["job", *override_cols, *metric_cols, "status"]
    rows = []
    for job in jobs:
        rows.append(
            [
                str(job.folder.relative_to(sweep_dir)),
                *(job.overrides.get(k, "") for k in override_cols),
                *(_format(job.metrics.get(k)) for k in metric_cols),
                job.status,
            ]
        )
    md_path, csv_path = sweep_dir / SUMMARY_MD, sweep_dir / SUMMARY_CSV
    lines = [
        f"# Sweep summary: {sweep_dir}",
        "",
        *markdown_table(header, rows),
        "",
        *(seeds.markdown if seeds else []),
    ]
    # Jobs of a parallel sweep may rewrite the summary at once: never show a torn file.
    write_text_atomic(md_path, "\n".join(lines))
    exact = [
        [
            str(job.folder.relative_to(sweep_dir)),
            *(job.overrides.get(k, "") for k in override_cols),
            *(repr(job.metrics[k]) if k in job.metrics else "" for k in metric_cols),
            job.status,
        ]
        for job in jobs
    ]
    write_text_atomic(csv_path, csv_text(header, exact))
    if seeds is not None:
        for name, text in ((SEEDS_CSV, seeds.seeds_csv), (PAIRED_CSV, seeds.paired_csv)):
            if text:
                write_text_atomic(sweep_dir / name, text)
    return md_path, csv_path


def summarize(
    sweep_dir: Path,
    task_overrides: list[str],
    output_subdir: str,
    baseline: str | None = None,
    seeds: object = None,
) -> SeedSection:
    """Collect the jobs of ``sweep_dir`` and write the summary files; returns the seed section
    (empty when no configuration ran under several seeds). ``task_overrides`` are the
    multirun's command-line overrides (to find the swept keys); ``baseline`` and ``seeds`` the
    multirun's ``baseline=`` and ``seeds=``."""
    jobs = collect_jobs(sweep_dir, output_subdir)
    swept = sweep_keys(task_overrides)
    override_cols, _ = table_columns(jobs, swept)
    section = seed_section(jobs, override_cols, baseline, configured_seed_list(seeds))
    md_path, _ = write_summary(sweep_dir, jobs, swept, section)
    log.info(f"multirun summary of {len(jobs)} job(s) written to {md_path}")
    return section


class MultirunSummary(Callback):
    """Writes ``summary.md`` and ``summary.csv`` into the sweep folder.

    The table is rewritten after every job (so it exists even when a failing job makes Hydra
    abort the multirun, and grows while a parallel sweep runs) and once more at the end of the
    multirun, when the swept keys of the command line are known.
    """

    def __init__(self) -> None:
        self._sweep_dir: Path | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # resolved now, before any job, so that ${now:...} gives the launcher's folder
        self._sweep_dir = Path(str(config.hydra.sweep.dir))

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        # derived from the job's own folder: in a launcher's worker process ${now:...} would
        # resolve to a later time than the sweep folder's
        subdir_depth = len(Path(str(config.hydra.sweep.subdir)).parts)
        sweep_dir = Path(config.hydra.runtime.output_dir).parents[subdir_depth - 1]
        summarize(sweep_dir, [], _output_subdir(config), *_seed_options(config))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = self._sweep_dir or Path(str(config.hydra.sweep.dir))
        if not sweep_dir.is_dir():
            log.warning(f"multirun summary: sweep folder {sweep_dir} does not exist; skipped")
            return
        task_overrides = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
        section = summarize(
            sweep_dir,
            [str(o) for o in task_overrides or []],
            _output_subdir(config),
            *_seed_options(config),
        )
        if section.markdown:  # the ablation's answer, where the user looks: the console
            print("\n".join(section.markdown))


def _output_subdir(config: DictConfig) -> str:
    return str(config.hydra.output_subdir or ".hydra")


def _seed_options(config: DictConfig) -> tuple[str | None, object]:
    """(``baseline``, ``seeds``) of a train.py config (None for other apps)."""
    baseline = config.get("baseline")
    seeds = config.get("seeds")
    if isinstance(seeds, ListConfig):
        seeds = OmegaConf.to_container(seeds)
    return (None if baseline is None else str(baseline)), seeds
