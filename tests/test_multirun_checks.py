"""A training multirun checks every job's config before the first job starts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict, read_write

from panet.cli.config_checks import ConfigError
from panet.cli.multirun_checks import job_overrides, sweep_problems
from panet.cli.seed_sweep import add_seed_sweep, check_single_run_seeds
from tests.run_helpers import CONFIG_DIR, TINY, run_script


@pytest.mark.slow
def test_an_invalid_job_stops_the_multirun_before_any_job_runs(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_script(
        "train.py",
        [*TINY, "pyramid.levels=5,11", "trainer.max_steps=2", f"hydra.sweep.dir={sweep}", "-m"],
        tmp_path,
    )
    assert result.returncode == 1
    assert "1 job(s) of this multirun have invalid configs; no job was started" in result.stderr
    assert (
        "job 1 (pyramid.levels=11): pyramid.levels must be an integer in 1..10; got 11"
        in result.stderr
    )
    assert not sweep.exists()  # job 0 never started


@contextmanager
def multirun_config(tmp_path: Path, *overrides: str) -> Iterator[DictConfig]:
    """train.yaml composed with ``overrides`` as a multirun's command line (sweeps allowed),
    inside Hydra's initialized context (the checks compose every job)."""
    import train  # noqa: F401  (registers the resolvers)

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    plain = [o.input_line for o in parsed if not o.is_sweep_override()]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[f"paths.log_dir={tmp_path / 'logs'}", *plain],
            return_hydra_config=True,
        )
        with read_write(cfg.hydra), open_dict(cfg.hydra):
            cfg.hydra.overrides.task = list(overrides)
        add_seed_sweep(cfg)  # as the SeedSweep callback does before the checks
        yield cfg


def swept(jobs: list[list[str]], *keys: str) -> list[list[str]]:
    return [[o for o in job if o.split("=", 1)[0] in keys] for job in jobs]


def jobs_of(tmp_path: Path, *overrides: str) -> list[list[str]]:
    with multirun_config(tmp_path, *overrides) as cfg:
        jobs = job_overrides(cfg)
    assert jobs is not None
    return jobs


def problems_of(tmp_path: Path, *overrides: str) -> list[str]:
    with multirun_config(tmp_path, *overrides) as cfg:
        return sweep_problems(cfg)


def test_seeds_shortcut_expands_seed_first(tmp_path: Path) -> None:
    jobs = jobs_of(tmp_path, "seeds=3", "pyramid.levels=1,2")
    assert swept(jobs, "seed", "pyramid.levels") == [
        [f"seed={s}", f"pyramid.levels={levels}"] for s in (1, 2, 3) for levels in (1, 2)
    ]
    assert problems_of(tmp_path, "seeds=3", "pyramid.levels=1,2") == []
    jobs = jobs_of(tmp_path, "seeds=[0,7]", "model=resnet,panet_s")
    assert swept(jobs, "seed") == [["seed=0"], ["seed=0"], ["seed=7"], ["seed=7"]]
    # without seeds nothing is added; seed=... on the command line is the sweep
    assert swept(jobs_of(tmp_path, "pyramid.levels=1,2"), "seed") == [[], []]
    jobs = jobs_of(tmp_path, "seed=4,5", "pyramid.levels=1,2")
    assert swept(jobs, "seed") == [["seed=4"], ["seed=4"], ["seed=5"], ["seed=5"]]


def test_bad_or_contradicting_seeds_stop_the_multirun(tmp_path: Path) -> None:
    for overrides, message in (
        (("seeds=0", "pyramid.levels=1,2"), "seeds must be a positive number of seeds or a list"),
        (("seeds=[1,1]",), r"seeds lists a seed twice: \[1, 1\]"),
        (("seeds=2", "seed=1,2"), r"seeds=\[1,2\] and seed=1,2 both choose the seeds; keep one"),
        (("seeds=2", "hparams_search=quickstart_optuna"), "an Optuna search.*drop seeds="),
    ):
        with pytest.raises(ConfigError, match=message), multirun_config(tmp_path, *overrides):
            pass


def test_an_experiments_sweep_params_are_checked_too(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "experiment=ablation_cpu_levels", "pyramid.levels=4,11")
    # the command line replaces the preset's levels; 3 seeds x 2 levels, 11 fails per seed
    assert len(problems) == 3
    assert all("pyramid.levels must be an integer in 1..10; got 11" in p for p in problems)


@pytest.mark.slow
def test_seeds_in_a_single_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="add -m to the command"):
        check_single_run_seeds(3, RunMode.RUN)
    check_single_run_seeds(3, RunMode.MULTIRUN)
    check_single_run_seeds(None, RunMode.RUN)
    result = run_script("train.py", [*TINY, "seeds=2", "trainer.max_steps=1"], tmp_path)
    assert result.returncode == 1
    assert "seeds=2 runs every configuration under several seeds" in result.stderr
    assert not list((tmp_path / "logs").rglob("*.ckpt"))
