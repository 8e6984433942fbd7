"""train.py end to end on tiny sizes: fast_dev_run of every task with every model family, and a
short real run that writes checkpoints, the resolved config and metrics.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from panet.checkpoints import load_for_evaluation
from tests.run_helpers import (
    TINY,
    TINY_MODEL,
    TINY_MPRNET_RUN,
    compose_config,
    run_script,
    with_overrides,
)
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
    assert metrics["meta"]["seed"] == 0  # the report pairs runs by seed
    assert (run / "config_resolved.yaml").is_file()
    assert "test results" in result.stdout
    for name in ("best.ckpt", "last.ckpt"):
        payload = torch.load(run / "checkpoints" / name, weights_only=True)
        assert payload["arch"] == "panet" and payload["arch_args"]["n_resblocks"] == 2


@pytest.mark.slow
def test_multi_stage_network_trains_with_panels_checkpoints_and_its_recipe(tmp_path: Path) -> None:
    """MPRNet through the normal stack: deep-supervised loss, warm-up cosine, image panels,
    the attention-map callback (no pyramid attention: skipped), checkpoints that rebuild it."""
    overrides = [
        "model=mprnet_s",
        "loss=mprnet",
        "scheduler=warmup_cosine",
        "scheduler.warmup_steps=1",
        "trainer.max_steps=2",
        "logger=csv",
        "callbacks.image_panels.num_images=1",
        *with_overrides(TINY_MPRNET_RUN, "data.samples_per_epoch=4"),  # validate after 2 steps
    ]
    cfg = compose_config("train", overrides, tmp_path)
    metrics = train(cfg)
    assert metrics["step"] == 2 and metrics["meta"]["arch"] == "mprnet"
    assert metrics["test/embedded/n_images"] == 8 and metrics["test/embedded/psnr_input"] > 5
    run = tmp_path / "run"
    assert list((run / "images").rglob("*.png"))
    net = load_for_evaluation(run / "checkpoints" / "best.ckpt")
    assert net.arch == "mprnet" and net.arch_args["num_cab"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("task", ["deblur", "derain"])
def test_fast_dev_run_of_mprnet_s_on_deblur_and_derain(task: str, tmp_path: Path) -> None:
    tiny_run = [o for o in TINY if o not in TINY_MODEL]  # mprnet_s as configured
    overrides = [f"task={task}", "model=mprnet_s", "loss=mprnet", "debug=fast_dev_run", *tiny_run]
    metrics = train(compose_config("train", overrides, tmp_path))
    assert metrics["step"] == 1 and metrics["meta"]["arch"] == "mprnet"
    assert metrics["test/embedded/n_images"] == 1
    assert metrics["test/embedded/psnr_input"] > 5
