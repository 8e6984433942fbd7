"""MultirunSummary: the table from job folders, and on real Hydra multiruns of a tiny app
(tests/callbacks/summary_app.py) through the basic launcher and submitit's local executor."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from callbacks.multirun_summary import collect_jobs, sweep_keys, write_summary
from tests.callbacks.configured import CONFIGS

APP = Path(__file__).with_name("summary_app.py")


def make_job(
    sweep: Path, subdir: str, num: int, overrides: list[str], metrics: dict | None
) -> None:
    hydra_dir = sweep / subdir / ".hydra"
    hydra_dir.mkdir(parents=True)
    (hydra_dir / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (hydra_dir / "hydra.yaml").write_text(f"hydra:\n  job:\n    num: {num}\n")
    if metrics is not None:
        (sweep / subdir / "metrics.json").write_text(json.dumps(metrics))


def test_table_from_job_folders(tmp_path: Path) -> None:
    make_job(tmp_path, "10", 10, ["pyramid.levels=3", "seed=1"], {"test/Set5/psnr": 30.25})
    make_job(tmp_path, "2", 2, ["pyramid.levels=2", "seed=1"], None)
    make_job(
        tmp_path,
        "1",
        1,
        ["pyramid.levels=1", "seed=1"],
        {"test/Set5/psnr": 29.5, "val/Set5/psnr": 29.0, "step": 7, "meta": {"a": 1}},
    )
    jobs = collect_jobs(tmp_path)
    assert [j.num for j in jobs] == [1, 2, 10]
    md, csv_path = write_summary(tmp_path, jobs, swept=["pyramid.levels"])
    lines = md.read_text().splitlines()
    assert lines[2] == "| job | pyramid.levels | step | test/Set5/psnr | val/Set5/psnr | status |"
    assert lines[4] == "| 1 | 1 | 7 | 29.5000 | 29.0000 | ok |"
    assert lines[5] == "| 2 | 2 |  |  |  | no metrics |"
    assert lines[6] == "| 10 | 3 |  | 30.2500 |  | ok |"
    rows = list(csv.DictReader(csv_path.open()))
    assert [r["pyramid.levels"] for r in rows] == ["1", "2", "3"]
    assert float(rows[2]["test/Set5/psnr"]) == 30.25 and rows[1]["status"] == "no metrics"
    assert "seed" not in rows[0]  # identical in every job: not a column


def test_sweep_keys_from_the_command_line() -> None:
    overrides = ["pyramid.levels=1,2", "trainer=debug", "pyramid.positions=[pre],[mid]"]
    assert sweep_keys(overrides) == ["pyramid.levels", "pyramid.positions"]


def write_app_config(folder: Path, sweep_dir: Path) -> Path:
    """A primary config that, like train.yaml, enables the summary from the repo's configs."""
    folder.mkdir()
    (folder / "app.yaml").write_text(
        "defaults:\n"
        "  - _self_\n"
        "  - override hydra/callbacks: summary\n"
        "x: 1\n"
        "fail: false\n"
        "seed: 0\n"
        "fail_seed: null\n"
        "baseline: null\n"
        "hydra:\n"
        f"  searchpath: ['file://{CONFIGS}']\n"
        f"  sweep: {{dir: '{sweep_dir}', subdir: '${{hydra.job.num}}'}}\n"
    )
    return folder


def run_app(tmp_path: Path, *overrides: str) -> tuple[subprocess.CompletedProcess, Path]:
    sweep = tmp_path / "sweep"
    conf = write_app_config(tmp_path / "conf", sweep)
    command = [sys.executable, str(APP), "--config-dir", str(conf), "-m", *overrides]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    return result, sweep


@pytest.mark.slow
def test_basic_multirun_writes_summary_even_when_a_job_fails(tmp_path: Path) -> None:
    result, sweep = run_app(tmp_path, "x=1,2", "fail=false,true")
    assert result.returncode != 0 and "failed on purpose" in result.stderr  # Hydra re-raises
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [(r["x"], r["fail"], r["status"]) for r in rows] == [
        ("1", "False", "ok"),
        ("1", "True", "no metrics"),
        ("2", "False", "ok"),
        ("2", "True", "no metrics"),
    ]
    assert float(rows[2]["val/toy/psnr"]) == 32.0 and rows[1]["test/toy/psnr"] == ""


@pytest.mark.slow
def test_submitit_local_multirun_writes_summary(tmp_path: Path) -> None:
    result, sweep = run_app(tmp_path, "x=1,2", "hydra/launcher=local")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (sweep / ".submitit").is_dir()  # really went through submitit
    md = (sweep / "summary.md").read_text().splitlines()
    assert md[2] == "| job | x | test/toy/psnr | val/toy/psnr | status |"
    assert md[4:6] == ["| 0 | 1 | 30.5000 | 31.0000 | ok |", "| 1 | 2 | 31.5000 | 32.0000 | ok |"]
