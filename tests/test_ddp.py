"""trainer=ddp with 2 CPU processes (gloo): trains, validates, and scores every image once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.run_helpers import TINY, run_script


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_counts_each_validation_image_once(tmp_path: Path) -> None:
    result = run_script(
        "train.py",
        [
            "run_name=ddp",
            "trainer=ddp",
            "trainer.accelerator=cpu",
            "trainer.devices=2",
            "trainer.max_steps=4",
            "logger=csv",
            "callbacks=none",
            *TINY,
        ],
        tmp_path,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(
        (tmp_path / "logs" / "train" / "denoise" / "ddp" / "metrics.json").read_text()
    )
    # 7 embedded images split over 2 ranks (4 + 3): a padded sampler would count 8.
    assert metrics["val/embedded/n_images"] == 7.0
    assert metrics["test/embedded/n_images"] == 7.0
    assert metrics["step"] == 4
