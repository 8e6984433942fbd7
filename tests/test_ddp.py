"""trainer=ddp with 2 CPU processes (gloo): trains, validates, and scores every image once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.run_helpers import TINY, run_script

#: An odd number of validation images: a padded sampler would score one of them twice.
ODD_SET_SIZE = 3


def write_odd_benchmark_set(root: Path) -> None:
    """A benchmark set ``root/Odd3`` of three small random RGB images."""
    folder = root / "Odd3"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(ODD_SET_SIZE):
        pixels = rng.integers(0, 256, size=(24, 28, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{index}.png")


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_counts_each_validation_image_once(tmp_path: Path) -> None:
    write_odd_benchmark_set(tmp_path / "bench")
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
            f"paths.benchmark_root={tmp_path / 'bench'}",
            "data.val_sets=[Odd3]",
            "data.test_sets=[Odd3]",
        ],
        tmp_path,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(
        (tmp_path / "logs" / "train" / "denoise" / "ddp" / "metrics.json").read_text()
    )
    # 3 images over 2 ranks (2 + 1): each counted once, none repeated by padding.
    assert metrics["val/Odd3/n_images"] == ODD_SET_SIZE
    assert metrics["test/Odd3/n_images"] == ODD_SET_SIZE
    assert metrics["step"] == 4
