"""Trainer presets: mixed precision + TF32 for trainer=gpu/ddp, full float32 one override away,
and training + validation under mixed and half precision on the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from panet.cli.trainer_setup import build_trainer, mixed_precision, trainer_arguments
from panet.inference.devices import set_tf32, tf32_enabled
from tests.run_helpers import TINY, TINY_MODEL, compose_config
from train import train


@pytest.fixture(autouse=True)
def _keep_tf32() -> None:
    before = tf32_enabled()
    yield
    set_tf32(before)


def test_mixed_precision_is_bf16_unless_the_gpu_lacks_it() -> None:
    if torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
        assert mixed_precision() == "16-mixed"
    else:
        assert mixed_precision() == "bf16-mixed"


@pytest.mark.parametrize(
    ("preset", "overrides", "precision", "tf32"),
    [
        ("default", [], "32-true", False),
        ("gpu", [], mixed_precision(), True),
        ("ddp", [], mixed_precision(), True),
        ("gpu", ["trainer.precision=32-true", "trainer.tf32=false"], "32-true", False),
    ],
)
def test_presets_compose_and_build(
    preset: str, overrides: list[str], precision: str, tf32: bool, tmp_path: Path
) -> None:
    cfg = compose_config(
        "train",
        [f"trainer={preset}", "trainer.accelerator=cpu", *TINY_MODEL, *overrides],
        tmp_path,
    )
    arguments, switch = trainer_arguments(cfg.trainer)
    assert "tf32" not in arguments and switch is tf32
    assert arguments.precision == precision
    set_tf32(not tf32)
    trainer = build_trainer(cfg.trainer, logger=False, enable_progress_bar=False)
    assert tf32_enabled() is tf32
    assert trainer.precision == precision


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bf16-mixed", "bf16-true"])
def test_fast_dev_run_trains_and_validates_under_low_precision(
    precision: str, tmp_path: Path
) -> None:
    cfg = compose_config(
        "train",
        [f"trainer.precision={precision}", "debug=fast_dev_run", "pyramid.levels=2", *TINY],
        tmp_path,
    )
    metrics = train(cfg)
    assert metrics["step"] == 1
    assert metrics["meta"]["precision"] == precision
    assert metrics["meta"]["device"] == "cpu"
    assert metrics["test/embedded/n_images"] == 1
    assert 5 < metrics["test/embedded/psnr"] < 60
