"""Recording the resolved run configuration with every experiment logger."""

from __future__ import annotations

from collections.abc import Iterable

from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import Logger


def log_resolved_config(loggers: Iterable[Logger], config: DictConfig) -> None:
    """Log ``config`` (interpolations resolved) as hyper-parameters to every logger: the W&B run
    config (searchable on the dashboard) and the CSV logger's ``hparams.yaml``."""
    container = OmegaConf.to_container(config, resolve=True)
    for logger in loggers:
        logger.log_hyperparams(container)
