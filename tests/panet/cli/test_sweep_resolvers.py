"""Run tags, the W&B group of a multirun and the Optuna resolvers, alone and in the composed
train config."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict

from panet.cli.sweep_resolvers import (
    OPTUNA_DB,
    group_name,
    optuna_direction,
    optuna_storage,
    run_tags,
)
from tests.run_helpers import compose_config


def test_run_tags_put_the_task_first_once() -> None:
    assert run_tags("denoise", ["ablation", "denoise", " ", "levels"]) == [
        "denoise",
        "ablation",
        "levels",
    ]
    assert run_tags(None, None) == []


def test_group_only_for_multiruns() -> None:
    assert group_name(RunMode.MULTIRUN, "/x/multirun/denoise/levels") == "denoise/levels"
    assert group_name(RunMode.RUN, "/x/multirun/denoise/levels") is None


def test_optuna_direction_and_storage(tmp_path: Path) -> None:
    assert (optuna_direction("max"), optuna_direction("min")) == ("maximize", "minimize")
    with pytest.raises(ValueError, match="monitor_mode must be"):
        optuna_direction("maximum")
    sweep = tmp_path / "not" / "yet"
    assert optuna_storage(str(sweep)) == f"sqlite:///{sweep.resolve() / OPTUNA_DB}"
    assert sweep.is_dir()  # SQLite would not create the folder


def test_wandb_tags_and_group_in_the_train_config(tmp_path: Path) -> None:
    cfg = compose_config("train", ["logger=wandb", "tags=[ablation,levels]"], tmp_path)
    assert cfg.logger.wandb.tags == ["denoise", "ablation", "levels"]
    assert cfg.logger.wandb.group is None  # a single run
    OmegaConf.set_readonly(cfg.hydra, False)
    with open_dict(cfg):
        cfg.hydra.mode = RunMode.MULTIRUN
        cfg.hydra.sweep.dir = str(tmp_path / "multirun" / "denoise" / "levels")
    HydraConfig.instance().set_config(cfg)
    wandb_cfg = OmegaConf.to_container(cfg.logger.wandb, resolve=True)
    assert wandb_cfg["group"] == "denoise/levels"
