"""Where the picture callbacks put their output: W&B loggers, the run folder, set names."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from pytorch_lightning.loggers import WandbLogger

from callbacks.rendering import save_png


def wandb_loggers(trainer: pl.Trainer) -> list[WandbLogger]:
    """The trainer's W&B loggers (none when running CSV-only or without loggers)."""
    return [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]


def val_set_name(trainer: pl.Trainer, dataloader_idx: int) -> str:
    """Name of validation set ``dataloader_idx``: the datamodule's ``val_set_names`` when it has
    them (``data.datamodule.RestorationDataModule``), else ``"set{idx}"``."""
    names = getattr(trainer.datamodule, "val_set_names", None) if trainer.datamodule else None
    if names is not None and dataloader_idx < len(names):
        return str(names[dataloader_idx])
    return f"set{dataloader_idx}"


def image_root(trainer: pl.Trainer, output_dir: str | Path | None) -> Path:
    """``output_dir`` when given, else ``{trainer.default_root_dir}/images``."""
    return Path(output_dir) if output_dir is not None else Path(trainer.default_root_dir) / "images"


def publish_images(
    trainer: pl.Trainer,
    key: str,
    images: Sequence[np.ndarray],
    captions: Sequence[str],
    paths: Sequence[Path],
) -> None:
    """Save every ``[H, W, 3]`` uint8 image as a PNG at its path and log the list under ``key``
    to each W&B logger at the current global step."""
    for rgb, path in zip(images, paths, strict=True):
        save_png(rgb, path)
    for logger in wandb_loggers(trainer):
        logger.log_image(
            key=key, images=list(images), caption=list(captions), step=trainer.global_step
        )
