"""CSNLN through train.py: x3 under DDP (2 gloo CPU processes; CSNLN-S at depth 1, whose last
projection gets no gradient, so DDP must search for unused parameters) on odd-sized
validation images, which evaluation pads to the up-factor and crops back; a training patch
that is not a multiple of the up-factor is refused before anything is built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.run_helpers import TINY, run_script, with_overrides
from tests.test_ddp import ODD_SET_SIZE, write_odd_benchmark_set

TINY_CSNLN = (
    *(o for o in with_overrides(TINY, "data.patch_size=12") if "n_resblocks" not in o),
    "task=sr",
    "degradation.scale=3",
    "model=csnln_s",
)


@pytest.mark.slow
def test_csnln_x3_trains_under_ddp_and_scores_odd_images_once(tmp_path: Path) -> None:
    write_odd_benchmark_set(tmp_path / "bench")  # 24x28 images: 28 is not a multiple of 3
    overrides = [
        "run_name=csnln_ddp",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.max_steps=2",
        "logger=csv",
        "callbacks=none",
        *TINY_CSNLN,
        f"paths.benchmark_root={tmp_path / 'bench'}",
        "data.val_sets=[Odd3]",
        "data.test_sets=[Odd3]",
    ]
    result = run_script("train.py", overrides, tmp_path, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(
        (tmp_path / "logs" / "train" / "sr" / "csnln_ddp" / "metrics.json").read_text()
    )
    assert metrics["val/Odd3/n_images"] == ODD_SET_SIZE
    assert metrics["test/Odd3/n_images"] == ODD_SET_SIZE
    assert metrics["test/Odd3/psnr"] > 0


def test_training_patch_not_a_multiple_of_the_up_factor_is_refused(tmp_path: Path) -> None:
    overrides = [*with_overrides(TINY_CSNLN, "data.patch_size=16"), "logger=csv"]
    result = run_script("train.py", overrides, tmp_path, timeout=200)
    assert result.returncode != 0
    assert "data.patch_size=16 is not a multiple of 3" in result.stderr + result.stdout
