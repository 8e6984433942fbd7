"""The Optuna search of train.py (configs/hparams_search/): a 2-trial study of the quick start's
learning rate and patch size on CPU with a tiny model writes the study (SQLite in the sweep
folder), the best value and the summary table; rerunning the command continues the study."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import optuna
import pytest
import yaml

from panet.cli.sweep_resolvers import OPTUNA_DB
from tests.run_helpers import compose_config, run_script
from tests.test_sweeps import SWEEP_JOB

#: Tiny trials of two steps; data.patch_size is searched, so it is not fixed here.
TRIAL = tuple(o for o in SWEEP_JOB if not o.startswith("data.patch_size="))


def search(tmp_path: Path, n_trials: int) -> Path:
    sweep = tmp_path / "search"
    args = [
        "hparams_search=quickstart_optuna",
        f"hydra.sweeper.n_trials={n_trials}",
        f"hydra.sweep.dir={sweep}",
        *TRIAL,
    ]
    result = run_script("train.py", args, tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return sweep


def trial_metrics(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/metrics.json")}


def test_search_config_composes(tmp_path: Path) -> None:
    cfg = compose_config("train", ["hparams_search=ablation_optuna"], tmp_path)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert sweeper.storage.startswith("sqlite:///") and sweeper.storage.endswith(OPTUNA_DB)
    assert set(sweeper.params) == {"pyramid.levels", "search.positions"}
    assert cfg.pyramid.positions == ["mid"]  # from search.positions through the resolver
    cfg = compose_config(
        "train", ["hparams_search=ablation_optuna", "search.positions=pre+post"], tmp_path
    )
    assert cfg.pyramid.positions == ["pre", "post"]


@pytest.mark.slow
def test_two_trial_study_then_a_rerun_continues_it(tmp_path: Path) -> None:
    sweep = search(tmp_path, n_trials=2)
    storage = f"sqlite:///{sweep / OPTUNA_DB}"
    study = optuna.load_study(study_name="optuna_lr_patch", storage=storage)
    trials = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(trials) == 2
    assert all(1e-4 <= t.params["optimizer.lr"] <= 2e-3 for t in trials)
    assert all(t.params["data.patch_size"] in (16, 24, 32) for t in trials)

    # every trial is a run folder named by its parameters, with its own metrics.json
    runs = trial_metrics(sweep)
    assert len(runs) == 2 and all(name.startswith("data.patch_size=") for name in runs)
    objective = {name: m["monitor_best"] for name, m in runs.items()}
    assert sorted(t.value for t in trials) == pytest.approx(sorted(objective.values()))

    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_value"] == pytest.approx(max(objective.values()))
    assert results["best_value"] == pytest.approx(study.best_value)

    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert len(rows) == 2 and {"optimizer.lr", "monitor_best"} <= set(rows[0])
    assert all(r["status"] == "ok" for r in rows)

    # the same command again: one more trial in the same study
    search(tmp_path, n_trials=1)
    study = optuna.load_study(study_name="optuna_lr_patch", storage=storage)
    assert len(study.trials) == 3
    assert len(list(csv.DictReader((sweep / "summary.csv").open()))) == len(trial_metrics(sweep))
