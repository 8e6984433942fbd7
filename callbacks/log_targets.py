"""Where the picture callbacks put their output: the run folder and every image-capable
logger (W&B, TensorBoard); the names of the validation sets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from pytorch_lightning.loggers import Logger, TensorBoardLogger, WandbLogger

from panet.imaging.rendering import save_png


def image_loggers(trainer: pl.Trainer) -> list[Logger]:
    """The trainer's loggers that can show images: W&B and TensorBoard (CSV cannot)."""
    return [
        logger for logger in trainer.loggers if isinstance(logger, WandbLogger | TensorBoardLogger)
    ]


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
    to each image-capable logger at the current global step: one W&B media entry ``key``, or
    TensorBoard images ``key/0``, ``key/1``, ... with the captions as the text ``key/captions``."""
    for rgb, path in zip(images, paths, strict=True):
        save_png(rgb, path)
    step = trainer.global_step
    for logger in image_loggers(trainer):
        if isinstance(logger, WandbLogger):
            logger.log_image(key=key, images=list(images), caption=list(captions), step=step)
        else:
            log_tensorboard_images(logger, key, images, captions, step)


def log_tensorboard_images(
    logger: TensorBoardLogger,
    key: str,
    images: Sequence[np.ndarray],
    captions: Sequence[str],
    step: int,
) -> None:
    """Images as ``key/{i}`` (HWC uint8) and their captions as one Markdown text ``key/captions``
    (TensorBoard images carry no caption of their own)."""
    writer = logger.experiment
    for index, rgb in enumerate(images):
        writer.add_image(f"{key}/{index}", rgb, global_step=step, dataformats="HWC")
    text = "\n".join(f"{index}: {caption}" for index, caption in enumerate(captions))
    writer.add_text(f"{key}/captions", text, global_step=step)
