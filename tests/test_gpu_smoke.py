"""benchmarks/gpu_smoke.sh: the commands it runs on a GPU machine, and its refusal without one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_smoke.sh"


def run(*args: str, benchmarks: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "PANET_BENCHMARKS": str(benchmarks)}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_dry_run_lists_the_gpu_steps(tmp_path: Path) -> None:
    (tmp_path / "Set5").mkdir()
    result = run("--dry-run", benchmarks=tmp_path)
    assert result.returncode == 0, result.stderr
    commands = [line for line in result.stdout.splitlines() if line.startswith("== ")]
    assert len(commands) == 3
    assert "train.py trainer=gpu" in commands[0]
    assert "trainer=ddp trainer.devices=2" in commands[1]
    assert "evaluate.py" in commands[2] and "device=cuda" in commands[2]
    assert "data.test_sets=[Set5]" in commands[2] and "inference=chop" in commands[2]


def test_dry_run_without_set5_says_why_it_skips(tmp_path: Path) -> None:
    result = run("--dry-run", benchmarks=tmp_path)
    assert result.returncode == 0
    assert f"no Set5 under {tmp_path}" in result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_refuses_to_run_without_a_gpu(tmp_path: Path) -> None:
    result = run(benchmarks=tmp_path)
    assert result.returncode == 2
    assert "needs a CUDA GPU" in result.stderr
