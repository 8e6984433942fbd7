"""Hydra callback: a multirun checks every job's config before the first job starts.

Without it, ``python train.py -m pyramid.levels=5,11`` trains job 0 fully and only then fails on
job 1. ``ValidateSweepJobs.on_multirun_start`` expands the sweep the way Hydra's basic sweeper
does, composes each job's config and runs ``panet.cli.config_checks.check_run_config`` on it;
any problem stops the multirun (exit status 1) with one line per bad job. Sweepers that choose
their values while running (e.g. Optuna) cannot be expanded up front and are left alone. Under
``hydra/launcher=slurm`` it also refuses a job whose DDP run would not fit the SLURM request
(``panet.cli.cluster.launcher_problems``), before anything is submitted.

Hydra turns an ``Exception`` raised in a callback into a warning, so a failed check leaves
through ``SystemExit`` instead.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from panet.cli.cluster import launcher_problems
from panet.cli.config_checks import ConfigError, check_run_config

#: The top-level keys the checks read (resolving others, e.g. the W&B run id, has side effects).
CHECKED_KEYS: tuple[str, ...] = (
    "task",
    "degradation",
    "pyramid",
    "model",
    "trainer",
    "data",
    "optimizer",
    "scheduler",
    "monitor",
)
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
#: The training config: the only primary config whose jobs train.
TRAIN_CONFIG = "train"


def sweeper_params(config: DictConfig) -> list[str]:
    """The basic sweeper's ``params`` as overrides (an experiment's swept keys, ``seed=1,2,3``
    from ``seeds=3``: ``panet.cli.seed_sweep``), resolved like the sweeper resolves them."""
    params = config.hydra.sweeper.get("params")
    if not params:
        return []
    resolved = OmegaConf.to_container(params, resolve=True)
    assert isinstance(resolved, dict)
    return [f"{key}={value}" for key, value in resolved.items()]


def job_overrides(config: DictConfig) -> list[list[str]] | None:
    """Each job's overrides, in job order, or None when the sweeper is not Hydra's basic one.
    As in ``BasicSweeper.sweep``: the sweeper's params first, then the command line (which
    replaces a param of the same key in place)."""
    if config.hydra.sweeper.get("_target_") != BASIC_SWEEPER:
        return None
    task = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
    assert isinstance(task, list)
    parser = OverridesParser.create()
    parsed = parser.parse_overrides([*sweeper_params(config), *(str(o) for o in task)])
    return [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def checkable(cfg: DictConfig) -> dict[str, Any]:
    """The resolved values of ``CHECKED_KEYS`` of a composed job config (plain containers)."""
    with open_dict(cfg):
        cfg.paths.output_dir = "<job folder>"  # Hydra sets it when the job starts
    plain: dict[str, Any] = {}
    for key in CHECKED_KEYS:
        if key in cfg:
            node = cfg[key]
            plain[key] = (
                OmegaConf.to_container(node, resolve=True)
                if isinstance(node, DictConfig)
                else OmegaConf.select(cfg, key)
            )
    return plain


def job_problem(config: DictConfig, overrides: Sequence[str]) -> str | None:
    """Why the job with ``overrides`` would fail its config checks (None when it passes)."""
    loader = GlobalHydra.instance().config_loader()
    try:
        cfg = loader.load_sweep_config(config, list(overrides))
        check_run_config(checkable(cfg), training=True)
    except (ConfigError, OmegaConfBaseException) as error:
        return problem_text(error)
    return None


def problem_text(error: BaseException) -> str:
    """The first line of the ``ConfigError`` in an (OmegaConf) error's chain, else of the
    error itself."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, ConfigError):
        cause = cause.__cause__ or cause.__context__
    return str(cause if cause is not None else error).splitlines()[0]


def sweep_problems(config: DictConfig) -> list[str]:
    """One line per job of the sweep whose config fails its checks (one line when the
    sweeper's params do not resolve)."""
    try:
        jobs = job_overrides(config)
    except (ConfigError, OmegaConfBaseException) as error:
        return [problem_text(error)]
    if jobs is None:
        return []
    common = set.intersection(*(set(job) for job in jobs)) if jobs else set()
    problems = []
    for number, overrides in enumerate(jobs):
        problem = job_problem(config, overrides)
        if problem:
            swept = " ".join(o for o in overrides if o not in common) or "no swept values"
            problems.append(f"job {number} ({swept}): {problem}")
    return problems


class ValidateSweepJobs(Callback):
    """Check every job of a training multirun before the first one starts."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if kwargs.get("config_name") not in (None, TRAIN_CONFIG):
            return
        problems = launcher_problems(config, job_overrides(config)) + sweep_problems(config)
        if problems:
            print(
                f"{len(problems)} job(s) of this multirun have invalid configs; no job was "
                "started. Fix or drop these values:\n  " + "\n  ".join(problems),
                file=sys.stderr,
            )
            raise SystemExit(1)


__all__ = [
    "CHECKED_KEYS",
    "ValidateSweepJobs",
    "job_overrides",
    "job_problem",
    "sweep_problems",
    "sweeper_params",
]
