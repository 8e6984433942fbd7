"""Sweeps of the real train.py: a 2-job `-m` ablation over pyramid.levels writes the summary
table into the sweep folder, through Hydra's basic launcher and through submitit's local
executor (hydra/launcher=local). Tiny sizes: PANet with 1 residual block, 16x16 crops."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest

from tests.run_helpers import REPO_ROOT, TINY, run_script, with_overrides

TRAIN = REPO_ROOT / "train.py"

#: A 2-step run that ends its only epoch with a validation (so every job has metrics).
SWEEP_JOB = with_overrides(
    TINY,
    "trainer=debug",
    "trainer.max_steps=2",
    "logger=csv",
    "data.samples_per_epoch=4",
    "data.embedded_crop=24",
)


def run_sweep(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess, Path]:
    if not TRAIN.is_file():
        pytest.fail(f"{TRAIN} is missing")
    sweep = tmp_path / "sweep"
    args = ["pyramid.levels=1,2", *SWEEP_JOB, f"hydra.sweep.dir={sweep}", *extra]
    # -m goes last: Hydra's parser takes no flag between overrides, and run_script puts
    # paths.log_dir first
    result = run_script(TRAIN.name, [*args, "-m"], tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result, sweep


def check_summary(sweep: Path) -> None:
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [r["pyramid.levels"] for r in rows] == ["1", "2"]
    assert all(r["status"] == "ok" for r in rows), rows
    psnr_columns = [k for k in rows[0] if k.endswith("/psnr")]
    assert psnr_columns, rows[0]
    assert all(float(r[k]) > 0 for r in rows for k in psnr_columns)
    md = (sweep / "summary.md").read_text()
    assert "| job | pyramid.levels |" in md


@pytest.mark.slow
def test_two_job_sweep_writes_the_summary(tmp_path: Path) -> None:
    _, sweep = run_sweep(tmp_path)
    check_summary(sweep)


@pytest.mark.slow
def test_same_sweep_through_submitit_local_launcher(tmp_path: Path) -> None:
    _, sweep = run_sweep(tmp_path, "hydra/launcher=local")
    assert (sweep / ".submitit").is_dir()
    check_summary(sweep)
