"""train.py end to end on tiny sizes: fast_dev_run of every task with every model family, and a
short real run that writes checkpoints, the resolved config and metrics.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.run_helpers import TINY, compose_config, run_script
from train import train

TASK_MODELS = [
    ("denoise", "panet"),
    ("denoise", "resnet"),
    ("denoise", "nonlocal"),
    ("demosaic", "panet_s"),
    ("car", "panet_s"),
    ("sr", "pa_edsr"),
    ("sr", "edsr_baseline"),
    ("deblur", "panet_s"),
    ("derain", "panet_s"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("task", "model"), TASK_MODELS)
def test_fast_dev_run_of_each_task_and_model_family(task: str, model: str, tmp_path: Path) -> None:
    cfg = compose_config(
        "train",
        [f"task={task}", f"model={model}", "debug=fast_dev_run", "pyramid.levels=2", *TINY],
        tmp_path,
    )
    metrics = train(cfg)
    assert metrics["step"] == 1
    assert metrics["test/embedded/n_images"] == 1  # fast_dev_run: one batch per set
    assert metrics["test/embedded/psnr_input"] > 5
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written["meta"]["task"] == task


@pytest.mark.slow
def test_script_trains_checkpoints_and_writes_metrics(tmp_path: Path) -> None:
    result = run_script(
        "train.py",
        [
            "run_name=tiny",
            "trainer.max_steps=8",
            "logger=csv",
            "callbacks.image_panels.num_images=1",
            "trainer.log_every_n_steps=1",
            *TINY,
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "logs" / "train" / "denoise" / "tiny"
    metrics = json.loads((run / "metrics.json").read_text())
    for stage in ("val", "test"):
        for key in ("psnr", "ssim", "psnr_input", "ssim_input", "n_images"):
            assert isinstance(metrics[f"{stage}/embedded/{key}"], float)
    assert metrics["step"] == 8 and metrics["meta"]["monitor"] == "val/embedded/psnr"
    assert (run / "config_resolved.yaml").is_file()
    assert "test results" in result.stdout
    for name in ("best.ckpt", "last.ckpt"):
        payload = torch.load(run / "checkpoints" / name, weights_only=True)
        assert payload["arch"] == "panet" and payload["arch_args"]["n_resblocks"] == 2
