"""A run killed with SIGTERM mid-epoch resumes, when its command is rerun, from the last
checkpoint at the step where it stopped (weights, optimizer, scheduler, step)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.run_helpers import REPO_ROOT, TINY

MAX_STEPS = 300


@pytest.mark.slow
def test_sigterm_mid_epoch_then_rerun_resumes_at_the_right_step(tmp_path: Path) -> None:
    command = [
        sys.executable,
        str(REPO_ROOT / "train.py"),
        f"paths.log_dir={tmp_path / 'logs'}",
        *TINY,
        f"trainer.max_steps={MAX_STEPS}",
        f"data.samples_per_epoch={2 * MAX_STEPS}",  # a single epoch: every kill is mid-epoch
        "callbacks.last_checkpoint.every_n_train_steps=5",
        "trainer.log_every_n_steps=1",
        "logger=csv",
        "callbacks.image_panels.num_images=0",
        "test=false",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    run = tmp_path / "logs" / "train" / "denoise"
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 240
        while not list(run.glob("*/checkpoints/last.ckpt")):
            assert process.poll() is None, process.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "no periodic last.ckpt within 240 s"
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    (folder,) = [p for p in run.iterdir() if p.is_dir()]
    killed = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    stopped_at = killed["global_step"]
    assert 5 <= stopped_at < MAX_STEPS, "the kill must land mid-run"

    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Resuming from {folder / 'checkpoints' / 'last.ckpt'}" in result.stdout
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["step"] == MAX_STEPS
    with open(folder / "csv" / "metrics.csv") as handle:
        steps = [int(row["step"]) for row in csv.DictReader(handle) if row.get("train/loss")]
    # The rerun trains the remaining steps only, continuing right after the saved step.
    resumed = [s for s in steps if s >= stopped_at]
    assert resumed and min(resumed) == stopped_at and max(steps) == MAX_STEPS - 1
    final = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    assert final["global_step"] == MAX_STEPS
    assert final["lr_schedulers"][0]["last_epoch"] == MAX_STEPS
