"""``seeds=``: every configuration of a multirun under several seeds.

``python train.py -m pyramid.levels=1,2 seeds=3`` runs each level under seeds 1, 2 and 3
(``seeds=[0,7,42]``: those seeds). ``SeedSweep.on_multirun_start`` (a Hydra callback, listed
first in ``configs/hydra/callbacks/summary.yaml``) turns it into ``seed=1,2,3`` at the front of
the basic sweeper's ``params``, before Hydra instantiates the sweeper from the same config. Hydra's
basic sweeper puts its params before the command line's overrides, so the seed is the outermost
loop: every configuration runs under seed 1 before any runs under seed 2, and rerunning a named
sweep with more seeds keeps the job numbers (so the folders) of the seeds already run. Without
``seeds`` nothing changes. Experiments may sweep their own keys in ``hydra.sweeper.params``
(``configs/experiment/ablation_cpu_*.yaml``); the seed goes before them.

Refused before any job starts: ``seeds`` together with a ``seed=`` override (the command line
would silently win), a bad value, and ``seeds`` with another sweeper (an Optuna search chooses
its own trials). ``check_single_run_seeds`` refuses ``seeds`` without ``-m``.

Hydra turns an ``Exception`` raised in a callback into a warning, so a refusal leaves through
``SystemExit`` instead.
"""

from __future__ import annotations

import sys
from typing import Any

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict, read_write

from panet.cli.config_checks import ConfigError
from panet.cli.multirun_checks import BASIC_SWEEPER
from panet.report.seeds import SEED_KEY, seed_list


def seed_values(seeds: object) -> list[int]:
    """``panet.report.seeds.seed_list`` with its complaint as a ``ConfigError``."""
    if isinstance(seeds, ListConfig):
        seeds = OmegaConf.to_container(seeds)
    try:
        return seed_list(seeds)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def seed_overrides(config: DictConfig) -> list[str]:
    """The multirun's command-line overrides that set ``seed``."""
    task = OmegaConf.to_container(config.hydra.overrides.task, resolve=False) or []
    assert isinstance(task, list)
    return [str(o) for o in task if str(o).split("=", 1)[0].lstrip("+~") == SEED_KEY]


def add_seed_sweep(config: DictConfig) -> list[int]:
    """Put ``seed=<seeds>`` first in the basic sweeper's params; returns the seeds ([] when
    ``seeds`` is null). Raises ``ConfigError`` for the refused cases (module docstring)."""
    seeds = config.get("seeds")
    if seeds is None:
        return []
    values = seed_values(seeds)
    shown = ",".join(str(s) for s in values)
    given = seed_overrides(config)
    if given:
        raise ConfigError(
            f"seeds=[{shown}] and {given[0]} both choose the seeds; keep one "
            "(seeds=3 is seed=1,2,3; seeds=null drops the shortcut)"
        )
    sweeper = config.hydra.sweeper
    if sweeper.get("_target_") != BASIC_SWEEPER:
        raise ConfigError(
            f"seeds= sweeps the seed with Hydra's basic sweeper, but this multirun uses "
            f"{sweeper.get('_target_')} (an Optuna search, hparams_search=, picks its own "
            "trials): drop seeds="
        )
    params = OmegaConf.to_container(sweeper.params, resolve=False) if sweeper.params else {}
    assert isinstance(params, dict)
    params.pop(SEED_KEY, None)
    with read_write(config.hydra), open_dict(config.hydra):
        sweeper.params = {SEED_KEY: shown, **params}
    return values


def check_single_run_seeds(seeds: object, mode: object) -> None:
    """``seeds=`` only means something to a multirun: refuse it in a single run (which would
    train one seed and ignore the others)."""
    if seeds is not None and mode == RunMode.RUN:
        if isinstance(seeds, ListConfig):
            seeds = OmegaConf.to_container(seeds)
        raise ConfigError(
            f"seeds={seeds} runs every configuration under several seeds, which takes a "
            "multirun: add -m to the command (or give one seed=N)"
        )


class SeedSweep(Callback):
    """Turn ``seeds=`` into the sweep of ``seed`` before the sweeper starts."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            add_seed_sweep(config)
        except ConfigError as error:
            print(f"{error}; no job was started.", file=sys.stderr)
            raise SystemExit(1) from None


__all__ = [
    "SeedSweep",
    "add_seed_sweep",
    "check_single_run_seeds",
    "seed_overrides",
    "seed_values",
]
