"""train.py with bfloat16 mixed precision (Lightning's CPU autocast) trains the quick start."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.run_helpers import TINY, compose_config
from train import train


@pytest.mark.slow
@pytest.mark.parametrize(("task", "model"), [("denoise", "panet"), ("sr", "pa_edsr")])
def test_fast_dev_run_in_bf16_mixed(task: str, model: str, tmp_path: Path) -> None:
    cfg = compose_config(
        "train",
        [
            f"task={task}",
            f"model={model}",
            "debug=fast_dev_run",
            "trainer.precision=bf16-mixed",
            "pyramid.levels=2",
            *TINY,
        ],
        tmp_path,
    )
    metrics = train(cfg)
    assert metrics["step"] == 1
    assert math.isfinite(metrics["test/embedded/psnr"]) and metrics["test/embedded/psnr"] > 5
