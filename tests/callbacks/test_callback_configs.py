"""The callbacks, logger and hydra launcher/callback config groups compose and instantiate
(through Hydra's compose API on a small primary config that searches the repo's configs)."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

from callbacks.multirun_summary import MultirunSummary
from panet.cli.run_setup import register_resolvers  # all of them: the W&B group uses sweep_group
from tests.callbacks.configured import CONFIGS

GROUPS = {
    "callbacks": sorted(p.stem for p in (CONFIGS / "callbacks").glob("*.yaml")),
    "logger": sorted(p.stem for p in (CONFIGS / "logger").glob("*.yaml")),
}


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A primary config providing what the groups interpolate, like train.yaml does."""
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "root.yaml").write_text(
        "defaults:\n"
        "  - callbacks: default\n"
        "  - logger: wandb\n"
        "  - _self_\n"
        "  - override hydra/callbacks: summary\n"
        f"paths: {{output_dir: '{tmp_path / 'run'}'}}\n"
        "monitor: val/Set5/psnr\n"
        "monitor_mode: max\n"
        "trainer: {devices: 2}\n"
        "data: {patch_size: 24}\n"
        "task: {n_colors: 3}\n"
        f"hydra: {{searchpath: ['file://{CONFIGS}']}}\n"
    )
    return folder


def compose_root(config_dir: Path, *overrides: str, hydra_cfg: bool = False):  # noqa: ANN201
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        return compose("root", overrides=list(overrides), return_hydra_config=hydra_cfg)


@pytest.mark.parametrize("choice", GROUPS["callbacks"])
def test_callbacks_group_instantiates(config_dir: Path, choice: str) -> None:
    cfg = compose_root(config_dir, f"callbacks={choice}")
    built = {name: hydra.utils.instantiate(node) for name, node in (cfg.callbacks or {}).items()}
    if choice == "default":
        assert {
            "model_checkpoint",
            "last_checkpoint",
            "lr_monitor",
            "progress_bar",
            "image_panels",
            "attention_maps",
            "model_cost",
        } <= set(built)
        best = built["model_checkpoint"]
        assert isinstance(best, ModelCheckpoint)
        assert (best.monitor, best.mode) == ("val/Set5/psnr", "max")
        assert built["last_checkpoint"]._every_n_train_steps == 500
    else:
        assert built == {}


@pytest.mark.parametrize("choice", GROUPS["logger"])
def test_logger_group_instantiates(config_dir: Path, choice: str) -> None:
    register_resolvers()
    cfg = compose_root(config_dir, f"logger={choice}")
    nodes = dict(cfg.logger or {})
    expected = {
        "wandb": {"csv", "wandb"},
        "tensorboard": {"csv", "tensorboard"},
        "csv": {"csv"},
        "none": set(),
    }[choice]
    assert set(nodes) == expected
    if "csv" in nodes:
        assert isinstance(hydra.utils.instantiate(nodes["csv"]), CSVLogger)
    if "tensorboard" in nodes:
        assert isinstance(hydra.utils.instantiate(nodes["tensorboard"]), TensorBoardLogger)
    if "wandb" in nodes:  # resolved only: instantiating starts a W&B run (tests/test_wandb.py)
        node = OmegaConf.to_container(nodes["wandb"], resolve=True)
        assert node["offline"] is True and len(node["id"]) == 8


@pytest.mark.parametrize("choice", ["slurm", "local"])
def test_launcher_presets(config_dir: Path, choice: str) -> None:
    cfg = compose_root(config_dir, f"hydra/launcher={choice}", hydra_cfg=True)
    launcher = cfg.hydra.launcher
    target = {"slurm": "SlurmLauncher", "local": "LocalLauncher"}[choice]
    assert launcher._target_.endswith(target)
    if choice == "slurm":
        assert launcher.tasks_per_node == 2 and launcher.gpus_per_node == 2
        assert launcher.max_num_timeout > 0 and launcher.signal_delay_s > 0


def test_summary_callback_is_enabled(config_dir: Path) -> None:
    cfg = compose_root(config_dir, hydra_cfg=True)
    assert isinstance(hydra.utils.instantiate(cfg.hydra.callbacks.summary), MultirunSummary)
