"""TensorBoard: configs/logger/tensorboard.yaml composed as train.py does, a real fit whose event
file (read back with TensorBoard's reader) holds the scalars of every set, the image panels,
the attention maps and their captions, matching the PNG files of the run folder."""

from __future__ import annotations

from pathlib import Path

import hydra
import numpy as np
import pytest
from PIL import Image

from tests.callbacks.configured import build_callbacks, callbacks_config
from tests.callbacks.tensorboard_events import decoded_image, image_tags, load_events, scalar_tags
from tests.callbacks.tiny_lightning import fit_tiny
from tests.run_helpers import compose_config


@pytest.mark.parametrize(
    ("choice", "loggers"),
    [
        ("logger=tensorboard", ["csv", "tensorboard"]),
        ("logger=[csv,tensorboard]", ["csv", "tensorboard"]),
        ("logger=[wandb,tensorboard]", ["csv", "wandb", "tensorboard"]),
    ],
)
def test_tensorboard_alone_and_combined(tmp_path: Path, choice: str, loggers: list[str]) -> None:
    cfg = compose_config("train", [choice], tmp_path)
    assert list(cfg.logger) == loggers
    assert cfg.logger.tensorboard.save_dir == str(tmp_path / "run")


@pytest.mark.slow
def test_fit_writes_scalars_images_and_captions(tmp_path: Path) -> None:
    cfg = compose_config("train", ["logger=tensorboard"], tmp_path, run_dir=tmp_path)
    logger = hydra.utils.instantiate(cfg.logger.tensorboard)
    callbacks = build_callbacks(
        callbacks_config(tmp_path), ("lr_monitor", "image_panels", "attention_maps")
    )
    trainer = fit_tiny(tmp_path, callbacks, logger=[logger], max_steps=2)
    logger.experiment.flush()

    events = load_events(tmp_path / "tensorboard")
    assert {"val/toyA/psnr", "val/toyB/psnr", "lr-Adam", "train/loss"} <= scalar_tags(events)
    assert {"val/toyA/panels/0", "val/toyA/panels/1", "val/toyB/panels/0", "val/attention/0"} <= (
        image_tags(events)
    )
    step, panel = decoded_image(events, "val/toyA/panels/0")
    assert step == trainer.global_step
    # the logged panel is the PNG of the run folder, pixel for pixel (input | output | target)
    (png,) = (tmp_path / "images" / "toyA").glob("toyA_0_step*.png")
    np.testing.assert_array_equal(panel, np.asarray(Image.open(png).convert("RGB")))
    assert panel.shape[1] > 3 * panel.shape[0]  # three tiles side by side
    texts = events.Tensors("val/attention/captions/text_summary")
    assert b"weight share" in texts[-1].tensor_proto.string_val[0]
