"""The seed section of the multirun summary: from job folders written here (known values, a
failed job), and on a real Hydra multirun of the tiny app whose seed-3 jobs fail."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from callbacks.multirun_summary import PAIRED_CSV, SEEDS_CSV, summarize
from tests.callbacks.test_multirun_summary import make_job, run_app

#: t(0.975, 1), t(0.975, 2) from a printed table.
T975 = {1: 12.7062, 2: 4.3027}


def levels_sweep(sweep: Path, failed: tuple[int, int] | None = (2, 3)) -> None:
    """levels 1 and 2 under seeds 1..3, seed-major as seeds= orders them; levels=2 adds
    0.3 dB +- 0.01 to a seed effect of 0.5 dB; job (levels, seed) = ``failed`` has no
    metrics."""
    number = 0
    for seed in (1, 2, 3):
        for levels in (1, 2):
            psnr = 30.0 + 0.5 * seed + (0.3 + 0.01 * (-1) ** seed if levels == 2 else 0.0)
            metrics = (
                None
                if (levels, seed) == failed
                else {
                    "test/Set5/psnr": psnr,
                    "test/Set5/ssim": 0.8 + 0.01 * seed,
                    "val/Set5/psnr": psnr,
                    "step": 10,
                }
            )
            overrides = [f"seed={seed}", f"pyramid.levels={levels}", "trainer.max_steps=10"]
            make_job(sweep, str(number), number, overrides, metrics)
            number += 1


def csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


def test_mean_ci_per_configuration_and_the_failed_seed(tmp_path: Path) -> None:
    levels_sweep(tmp_path)
    section = summarize(tmp_path, [], ".hydra", baseline="pyramid.levels=1", seeds=3)
    md = (tmp_path / "summary.md").read_text()
    assert "## Seeds: mean ± 95 % CI (Student t) over 1, 2, 3" in md
    assert "| pyramid.levels | n | seeds | test/Set5/psnr | test/Set5/ssim |" in md
    # levels=1: 30.5, 31.0, 31.5 -> mean 31.0, sd 0.5
    half = T975[2] * 0.5 / math.sqrt(3)
    assert f"| 1 | 3 | 1, 2, 3 | 31.00 ± {half:.2f} | 0.8200 ± " in md
    assert "| 2 | 2 | 1, 2 (missing: 3) |" in md
    assert section.markdown and "\n".join(section.markdown) in md
    rows = {(r["pyramid.levels"], r["metric"]): r for r in csv_rows(tmp_path / SEEDS_CSV)}
    level1 = rows[("1", "test/Set5/psnr")]
    assert (level1["n"], float(level1["mean"])) == ("3", pytest.approx(31.0))
    assert float(level1["ci_high"]) - 31.0 == pytest.approx(half, abs=1e-3)
    assert rows[("2", "test/Set5/psnr")]["missing_seeds"] == "3"

    # paired: +0.29 and +0.31 (seeds 1, 2); true +0.30 inside, 0 outside
    (paired,) = csv_rows(tmp_path / PAIRED_CSV)
    assert (paired["pyramid.levels"], paired["baseline"]) == ("2", "pyramid.levels=1")
    assert (paired["pairs"], paired["paired_seeds"], paired["unpaired_seeds"]) == ("2", "1, 2", "3")
    low, high = float(paired["ci_low"]), float(paired["ci_high"])
    assert float(paired["mean_diff"]) == pytest.approx(0.3)
    assert high - 0.3 == pytest.approx(T975[1] * 0.01, abs=1e-3)  # sd 0.01*sqrt(2), /sqrt(2)
    assert low < 0.3 < high and low > 0
    assert paired["verdict"] == f"+0.30 dB, CI [+{low:.2f}, +{high:.2f}]"
    assert f"| 2 | 2 (missing: 3) | +0.30 dB, CI [+{low:.2f}, +{high:.2f}] |" in md


def test_a_seed_no_job_ran_is_missing_and_no_seeds_no_section(tmp_path: Path) -> None:
    levels_sweep(tmp_path / "a", failed=None)
    summarize(tmp_path / "a", [], ".hydra", seeds=4)  # seeds=4 asked, seed 4 never ran
    md = (tmp_path / "a" / "summary.md").read_text()
    assert "| 1 | 3 | 1, 2, 3 (missing: 4) |" in md and "Paired" not in md
    make_job(tmp_path / "b", "0", 0, ["pyramid.levels=1"], {"test/Set5/psnr": 30.0})
    make_job(tmp_path / "b", "1", 1, ["pyramid.levels=2"], {"test/Set5/psnr": 30.1})
    section = summarize(tmp_path / "b", [], ".hydra")
    assert not section.markdown and "Seeds" not in (tmp_path / "b" / "summary.md").read_text()
    assert not (tmp_path / "b" / SEEDS_CSV).exists()


def test_an_unknown_baseline_is_said_not_raised(tmp_path: Path) -> None:
    levels_sweep(tmp_path)
    summarize(tmp_path, [], ".hydra", baseline="pyramid.levels=7")
    md = (tmp_path / "summary.md").read_text()
    assert "No comparison: no configuration has the baseline pyramid.levels=7; " in md
    assert "pyramid.levels takes the values 1, 2" in md


@pytest.mark.slow
def test_real_multirun_with_failed_seed_jobs(tmp_path: Path) -> None:
    result, sweep = run_app(tmp_path, "x=1,2", "seed=1,2,3", "fail_seed=3", "baseline='x=1'")
    assert result.returncode != 0 and "failed on purpose" in result.stderr
    md = (sweep / "summary.md").read_text()
    # test psnr = 29.5 + x (1 + 0.1 seed): x=1 -> 30.6, 30.7; x=2 -> 31.7, 31.9
    assert "| 1 | 2 | 1, 2 (missing: 3) | 30.65 ± 0.64 |" in md
    assert "| 2 | 2 | 1, 2 (missing: 3) | 31.80 ± 1.27 |" in md
    assert "| 2 | 2 (missing: 3; baseline missing: 3) | +1.15 dB, CI [+0.51, +1.79] |" in md
    (paired,) = csv_rows(sweep / PAIRED_CSV)
    assert (paired["x"], paired["pairs"], float(paired["mean_diff"])) == (
        "2",
        "2",
        pytest.approx(1.15),
    )
    assert paired["verdict"].startswith("+1.15 dB, CI [+0.51, +1.79]")
