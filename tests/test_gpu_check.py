"""benchmarks/gpu_check.sh: its CPU dry run gives every row of the GPU table (so the check a GPU
machine runs cannot rot), a failed, timed-out or skipped step still shows its rows, and it
refuses to start where it cannot measure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks.gpu_rows import largest_fitting
from benchmarks.gpu_table import Row, RowLog, build_table
from panet.attention.cross_scale import BOX_SUM_PYRAMIDS, CROSS_SCALE_IMPLEMENTATIONS
from panet.attention.pyramid import IMPLEMENTATIONS

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.sh"


def run_check(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def table_rows(table: str) -> list[dict[str, str]]:
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split(" | ")]
    return [
        dict(zip(header, (cell.strip() for cell in line.strip("|").split(" | ")), strict=True))
        for line in lines[1:]
    ]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_cpu_dry_run_measures_every_row(tmp_path: Path) -> None:
    out = tmp_path / "check"
    result = run_check("--cpu-dry-run", "--budget", "1500", str(out), timeout=1700)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    table = (out / "table.md").read_text()
    assert table.split("\n\n")[0] in result.stdout  # printed, and written
    rows = table_rows(table)
    # the only rows that may not run on a CPU: implementations that say they need CUDA (triton,
    # whose kernels the attention tests run in Triton's interpreter instead)
    cuda_only = [r for r in rows if r["status"] == "skipped" and "runs on CUDA" in r["notes"]]
    assert {r["variant"] for r in cuda_only} <= {"triton"}
    failed = [r for r in rows if r["status"] != "ok" and r not in cuda_only]
    assert not failed, failed

    groups: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    facts = {r["case"]: r["notes"] for r in groups["environment"]}
    assert {"date", "GPU", "torch", "CUDA", "Triton", "bf16", "pyramid impl=auto"} <= set(facts)
    assert facts["pyramid impl=auto"].startswith("fast "), facts  # asked of the dispatcher

    # Every registered pyramid attention (auto picks one of them) in each of the three cases,
    # compared with faithful on the same input.
    impls = [name for name in IMPLEMENTATIONS if name != "auto"]
    attention = groups["pyramid attention"]
    cases = {r["case"] for r in attention}
    assert len(cases) == 3 and sum("fwd+bwd" in c for c in cases) == 1
    for case in cases:
        assert sorted(r["variant"] for r in attention if r["case"] == case) == sorted(impls)
    for row in attention:
        if row["variant"] != "faithful" and row["status"] == "ok":
            errors = [float(e.split()[-1]) for e in row["rel. error"].split(" / ")]
            assert max(errors) < 1e-4, row
    cross = {r["variant"] for r in groups["cross-scale attention"]}
    cross_impls = {*CROSS_SCALE_IMPLEMENTATIONS, *BOX_SUM_PYRAMIDS} - {"auto"}
    assert cross == {"official", *cross_impls}
    assert sorted(r["variant"] for r in groups["largest training patch"]) == sorted(impls)
    assert all(
        "largest patch" in r["notes"]
        for r in groups["largest training patch"]
        if r["status"] == "ok"
    )

    steps = groups["training steps"]
    assert sorted(r["variant"] for r in steps) == ["compiled"] * 4 + ["eager"] * 4
    assert {r["case"].split()[0] for r in steps} == {"PANet", "PA-EDSR", "MPRNet", "CSNLN"}
    assert {r["variant"] for r in groups["quick start"]} == {
        "trainer=gpu",
        "trainer=ddp, 2 processes",
    }
    assert all("embedded PSNR" in r["notes"] for r in groups["quick start"])
    assert len(groups["evaluate.py"]) == 2
    assert all("PSNR" in r["notes"] for r in groups["evaluate.py"])
    assert "the quick start's best.ckpt" in groups["evaluate.py"][0]["notes"]
    (loading,) = groups["data loading"]
    assert "batches/s" in loading["notes"] and "steps/s" in loading["notes"]
    assert len(list((out / "logs").glob("*.log"))) >= 12


def test_a_crashed_or_stopped_step_still_shows_its_rows(tmp_path: Path) -> None:
    crashed = RowLog(tmp_path, "01-attention")
    crashed.plan([Row("pyramid attention", "1x8x12x12 fwd", impl) for impl in ("a", "b")])
    crashed.write(Row("pyramid attention", "1x8x12x12 fwd", "a", status="ok", time="1.0 ms"))
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "01-attention.log").write_text("...\nSegmentation fault\n")
    (tmp_path / "rows" / "01-attention.exit").write_text("139 3 120")
    RowLog(tmp_path, "02-slow").plan([Row("training steps", "PANet", "compiled")])
    (tmp_path / "rows" / "02-slow.exit").write_text("124 300 300")
    (tmp_path / "rows" / "03-data.exit").write_text("skip 4")
    (tmp_path / "rows" / "04-env.exit").write_text("1 2 60")  # died before planning a row

    _, rows = build_table(tmp_path)
    assert [(r.variant or r.group, r.status) for r in rows] == [
        ("a", "ok"),
        ("b", "failed"),
        ("compiled", "timed out"),
        ("data", "not run"),
        ("env", "failed"),
    ]
    assert "exit 139" in rows[1].notes and "Segmentation fault" in rows[1].notes
    assert "300 s limit" in rows[2].notes


def test_largest_fitting_doubles_then_bisects() -> None:
    tried: list[int] = []

    def fits_up_to(limit: int):
        def try_size(size: int) -> bool:
            tried.append(size)
            return size <= limit

        return try_size

    assert largest_fitting(fits_up_to(100), 48, 8, 512) == (96, 104)
    assert tried == [48, 96, 192, 144, 120, 104]
    assert largest_fitting(fits_up_to(10**6), 48, 8, 512) == (512, None)
    assert largest_fitting(fits_up_to(20), 48, 8, 512) == (16, 24)
    assert largest_fitting(fits_up_to(4), 48, 8, 512) == (None, 8)


def test_usage_and_an_empty_wheel_folder_are_refused(tmp_path: Path) -> None:
    assert run_check().returncode == 2
    assert "usage" in run_check().stderr
    result = run_check("--wheels", str(tmp_path), str(tmp_path / "out"))
    assert result.returncode == 2 and f"no .whl files in {tmp_path}" in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_refuses_to_measure_without_a_gpu(tmp_path: Path) -> None:
    result = run_check(str(tmp_path / "out"))
    assert result.returncode == 2
    assert "needs a CUDA GPU" in result.stderr and "--cpu-dry-run" in result.stderr
