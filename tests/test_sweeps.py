"""Sweeps of the real train.py: a `-m` ablation over pyramid.levels writes the summary table
into the sweep folder, through Hydra's basic launcher (2 levels x 2 seeds with `seeds=2` and a
baseline: the seed section, then `python -m panet.report --baseline` on the same folder) and
through submitit's local executor (hydra/launcher=local). Tiny sizes: PANet with 2 residual
blocks of 8 features, 16x16 patches."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest

from panet.report.__main__ import main as report
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


def check_summary(sweep: Path, levels: tuple[str, ...] = ("1", "2")) -> None:
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert tuple(r["pyramid.levels"] for r in rows) == levels
    assert all(r["status"] == "ok" for r in rows), rows
    psnr_columns = [k for k in rows[0] if k.endswith("/psnr")]
    assert psnr_columns, rows[0]
    assert all(float(r[k]) > 0 for r in rows for k in psnr_columns)
    md = (sweep / "summary.md").read_text()
    assert "| job | pyramid.levels |" in md


@pytest.mark.slow
def test_two_seed_two_level_sweep_summary_and_report(tmp_path: Path) -> None:
    result, sweep = run_sweep(tmp_path, "seeds=2", "baseline='pyramid.levels=1'")
    # the seed is the outermost loop: both levels under seed 1, then under seed 2
    check_summary(sweep, levels=("1", "2", "1", "2"))
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [r["seed"] for r in rows] == ["1", "1", "2", "2"]
    # the seed section, printed at the end and in summary.md
    assert "## Seeds: mean ± 95 % CI (Student t) over 1, 2" in result.stdout
    md = (sweep / "summary.md").read_text()
    assert "| pyramid.levels | n | seeds | test/embedded/psnr | test/embedded/ssim |" in md
    assert md.count("| 2 | 1, 2 | ") == 2  # both levels: n = 2, seeds 1, 2
    seeds = list(csv.DictReader((sweep / "summary_seeds.csv").open()))
    psnr = [r for r in seeds if r["metric"] == "test/embedded/psnr"]
    assert [(r["pyramid.levels"], r["n"]) for r in psnr] == [("1", "2"), ("2", "2")]
    assert all(float(r["ci_low"]) <= float(r["mean"]) <= float(r["ci_high"]) for r in psnr)
    (paired,) = list(csv.DictReader((sweep / "summary_paired.csv").open()))
    assert (paired["pyramid.levels"], paired["pairs"]) == ("2", "2")
    assert "Paired differences vs pyramid.levels=1" in result.stdout

    # the report groups the same jobs and pairs them by seed
    out = tmp_path / "report"
    assert report([str(sweep), "--out", str(out), "--baseline", "pyramid.levels=1"]) == 0
    text = (out / "report.md").read_text()
    assert "| ours: panet_s levels=1 | 3.5 | 2 |" in text
    (line,) = list(csv.DictReader((out / "paired_differences.csv").open()))
    assert (line["configuration"], line["set"], line["pairs"]) == (
        "pyramid.levels=2",
        "embedded",
        "2",
    )
    assert float(line["mean_diff_db"]) == pytest.approx(float(paired["mean_diff"]))


@pytest.mark.slow
def test_same_sweep_through_submitit_local_launcher(tmp_path: Path) -> None:
    _, sweep = run_sweep(tmp_path, "hydra/launcher=local")
    assert (sweep / ".submitit").is_dir()
    check_summary(sweep)
