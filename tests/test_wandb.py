"""W&B: the persisted run id, and a real offline run (configs/logger/wandb.yaml + the default
callbacks) whose run file holds the scalars, the image panels, the attention maps and the config."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
import wandb
from omegaconf import OmegaConf

from callbacks.config_logging import log_resolved_config
from panet.cli.wandb_run_id import RUN_ID_FILE, persistent_run_id, register_resolvers
from tests.callbacks import wandb_records
from tests.callbacks.configured import CONFIGS, build_callbacks, callbacks_config
from tests.callbacks.tiny_lightning import fit_tiny


def test_run_id_is_created_once_and_reused(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    first = persistent_run_id(run_dir)
    assert (run_dir / RUN_ID_FILE).read_text().strip() == first
    assert persistent_run_id(run_dir) == first
    assert persistent_run_id(tmp_path / "other") != first
    assert sorted(p.name for p in run_dir.iterdir()) == [RUN_ID_FILE]  # no temp file left


def test_corrupt_run_id_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / RUN_ID_FILE).write_text("bad/id\n")
    with pytest.raises(ValueError, match="delete the file"):
        persistent_run_id(tmp_path)


def test_resolver_in_the_logger_config(tmp_path: Path) -> None:
    register_resolvers()
    register_resolvers()  # idempotent
    cfg = logger_config(tmp_path)
    assert cfg.logger.wandb.id == persistent_run_id(tmp_path)
    assert cfg.logger.wandb.offline is True and cfg.logger.wandb.project == "panet-lab"
    assert cfg.logger.csv.save_dir == str(tmp_path)


def logger_config(output_dir: Path):  # noqa: ANN201 - a DictConfig
    """configs/logger/wandb.yaml (with its csv default merged) under a root with paths."""
    cfg = callbacks_config(output_dir)
    csv = OmegaConf.load(CONFIGS / "logger" / "csv.yaml")
    wandb_cfg = OmegaConf.load(CONFIGS / "logger" / "wandb.yaml")
    assert list(wandb_cfg.defaults) == ["csv"]
    del wandb_cfg["defaults"]
    cfg.logger = OmegaConf.merge(csv, wandb_cfg)
    return cfg


def offline_run_file(output_dir: Path, run_id: str) -> Path:
    (path,) = (output_dir / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb")
    return path


@pytest.mark.slow
def test_offline_run_has_scalars_panels_attention_and_config(tmp_path: Path) -> None:
    register_resolvers()
    cfg = logger_config(tmp_path)
    loggers = [hydra.utils.instantiate(cfg.logger[name]) for name in ("wandb", "csv")]
    callbacks = build_callbacks(cfg, ("lr_monitor", "image_panels", "attention_maps"))
    log_resolved_config(loggers, cfg)
    try:
        trainer = fit_tiny(tmp_path, callbacks, logger=loggers, max_steps=2)
    finally:
        wandb.finish()
    run_id = persistent_run_id(tmp_path)
    run_file = offline_run_file(tmp_path, run_id)
    wandb_records.wait_for_exit(run_file)
    assert wandb_records.run_id(run_file) == run_id
    rows = wandb_records.history(run_file)
    keys = {k for row in rows for k in row}
    assert {"val/toyA/psnr", "val/toyB/psnr", "lr-Adam"} <= keys
    media = run_file.parent / "files"
    for key in ("val/toyA/panels", "val/toyB/panels", "val/attention"):
        (row,) = [r for r in rows if f"{key}/filenames" in r]
        assert row["trainer/global_step"] == trainer.global_step
        assert len(row[f"{key}/filenames"]) == (1 if key == "val/attention" else 2)
        assert all((media / name).is_file() for name in row[f"{key}/filenames"])
    assert {"paths", "monitor", "callbacks", "logger"} <= wandb_records.config_keys(run_file)
    assert (tmp_path / "csv").is_dir()  # the CSV logger ran beside W&B

    # a resumed/requeued run in the same folder continues the same W&B run id
    resumed = hydra.utils.instantiate(logger_config(tmp_path).logger.wandb)
    try:
        resumed.log_metrics({"val/toyA/psnr": 1.0}, step=3)
        assert resumed.experiment.id == run_id
    finally:
        wandb.finish()
    assert len(list((tmp_path / "wandb").glob(f"offline-run-*-{run_id}"))) >= 1


@pytest.mark.slow
def test_tags_and_sweep_group_reach_the_wandb_run(tmp_path: Path) -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict

    from tests.run_helpers import compose_config

    cfg = compose_config("train", ["logger=wandb", "tags=[ablation,levels]"], tmp_path)
    OmegaConf.set_readonly(cfg.hydra, False)
    with open_dict(cfg):  # as in a job of `train.py -m run_name=levels ...`
        cfg.hydra.mode = RunMode.MULTIRUN
        cfg.hydra.sweep.dir = str(tmp_path / "multirun" / "denoise" / "levels")
    HydraConfig.instance().set_config(cfg)
    logger = hydra.utils.instantiate(cfg.logger.wandb)
    try:
        logger.log_metrics({"val/x/psnr": 1.0}, step=0)
        run_id = logger.experiment.id
    finally:
        wandb.finish()
    run_file = offline_run_file(tmp_path / "run", run_id)
    wandb_records.wait_for_exit(run_file)
    tags, group = wandb_records.run_tags_and_group(run_file)
    assert tags == ["denoise", "ablation", "levels"] and group == "denoise/levels"
