"""``python -m panet.report`` on a synthetic 3-seed ablation (metrics.json files in train.py's
format with known values) with one failed job: one row per configuration with mean ± CI and n,
the failed seed named, and ``--baseline`` giving the paired differences whose intervals hold
the differences built in (and exclude 0 only where a gain was built in)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from panet.report.__main__ import main
from panet.report.plot import aggregate_points
from panet.report.stats import mean_interval
from tests.panet.report.test_report import R16, train_meta, write_run

#: Set5 PSNR of the baseline per seed: a large seed effect the paired difference cancels.
BASE = {1: 28.0, 2: 28.6, 3: 27.7}
#: What each configuration adds to the baseline per seed: pyramid attention a true +0.25 dB,
#: non-local attention nothing (only seed noise).
ADDED = {
    "resnet": {1: 0.0, 2: 0.0, 3: 0.0},
    "nonlocal": {1: 0.05, 2: -0.04, 3: -0.01},
    "panet": {1: 0.26, 2: 0.24, 3: 0.25},
}
ARCH = {
    "resnet": {**R16, "positions": []},
    "nonlocal": {**R16, "levels": 1, "patch_size": 1},
    "panet": R16,
}
FAILED = ("panet", 3)
#: t(0.975, 1) and t(0.975, 2) from a printed table.
T975 = {1: 12.7062, 2: 4.3027}


def job_overrides(model: str, seed: int) -> list[str]:
    return [f"seed={seed}", f"model={model}", "experiment=ablation_cpu_attention"]


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """Jobs 0..8 in the sweeper's order (seed by seed); job (panet, 3) failed: its folder has
    Hydra's overrides and no metrics.json."""
    root = tmp_path / "multirun" / "denoise" / "ablation_cpu_attention"
    number = 0
    for seed in BASE:
        for model in ADDED:
            folder = root / str(number)
            number += 1
            hydra = folder / ".hydra"
            hydra.mkdir(parents=True)
            overrides = job_overrides(model, seed)
            (hydra / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
            if (model, seed) == FAILED:
                continue
            psnr = BASE[seed] + ADDED[model][seed]
            meta = train_meta(ARCH[model], 30, overrides, 400_000)
            meta.update(model=model, seed=seed)
            write_run(
                folder,
                {
                    "test/Set5/psnr": psnr,
                    "test/Set5/ssim": 0.8,
                    "test/embedded/psnr": psnr - 2,
                    "meta": meta,
                },
            )
    return root


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


def test_rows_over_seeds_with_the_failed_seed_named(sweep: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    assert main([str(sweep), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "1 job folder(s) without test scores" in printed.err
    table = {r["method"]: r for r in rows(out / "PANet-T1.csv") if r["kind"] == "ours"}
    assert sorted(table) == ["ours: nonlocal", "ours: panet", "ours: resnet"]
    resnet, panet = table["ours: resnet"], table["ours: panet"]
    assert (resnet["n"], resnet["seeds"], resnet["missing_seeds"]) == ("3", "1, 2, 3", "")
    assert (panet["n"], panet["seeds"], panet["missing_seeds"]) == ("2", "1, 2", "3")
    values = list(BASE.values())
    expected = mean_interval(values)
    assert float(resnet["Set5 σ30 PSNR"]) == pytest.approx(expected.mean, abs=1e-6)
    sd = math.sqrt(sum((v - expected.mean) ** 2 for v in values) / 2)
    half = T975[2] * sd / math.sqrt(3)
    assert float(resnet["Set5 σ30 PSNR ±"]) == pytest.approx(half, abs=1e-3)
    report = (out / "report.md").read_text()
    assert "| method | params (K) | n |" in report
    assert "| ours: resnet | 400 | 3 | " in report
    assert f"{expected.mean:.2f} ± {half:.2f}" in report
    assert "| ours: panet | 400 | 2 (missing: 3) |" in report


def test_paired_differences_against_a_baseline(sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main([str(sweep), "--out", str(out), "--baseline", "model=resnet"]) == 0
    lines = {(r["configuration"], r["set"]): r for r in rows(out / "paired_differences.csv")}
    assert set(lines) == {
        (f"model={m}", s) for m in ("nonlocal", "panet") for s in ("Set5", "embedded")
    }
    # pyramid attention: +0.25 dB built in; seeds 1 and 2 pair (3 failed)
    panet = lines[("model=panet", "Set5")]
    assert (panet["pairs"], panet["paired_seeds"], panet["missing_seeds"]) == ("2", "1, 2", "3")
    diffs = [ADDED["panet"][s] for s in (1, 2)]
    mean = sum(diffs) / 2
    half = T975[1] * math.sqrt(sum((d - mean) ** 2 for d in diffs)) / math.sqrt(2)
    low, high = float(panet["ci_low"]), float(panet["ci_high"])
    assert float(panet["mean_diff_db"]) == pytest.approx(mean)
    assert (low, high) == pytest.approx((mean - half, mean + half), abs=1e-3)
    assert low < 0.25 < high and low > 0  # holds the true gain, excludes no gain
    assert panet["verdict"] == f"+{mean:.2f} dB, CI [+{low:.2f}, +{high:.2f}]"
    # non-local attention: nothing built in -> the interval holds 0
    nonlocal_ = lines[("model=nonlocal", "Set5")]
    assert nonlocal_["pairs"] == "3"
    assert float(nonlocal_["ci_low"]) < 0 < float(nonlocal_["ci_high"])
    assert nonlocal_["verdict"].startswith("within noise (+0.00 dB, CI [")

    report = (out / "report.md").read_text()
    assert "### Paired differences vs model=resnet (denoise, sigma=30)" in report
    assert "| panet | 2 (missing: 3) | +0.25 dB, CI [" in report
    assert "| nonlocal | 3 | within noise" in report


def test_a_baseline_no_run_has(sweep: Path, tmp_path: Path, capsys) -> None:
    assert main([str(sweep), "--out", str(tmp_path / "o"), "--baseline", "model=edsr"]) == 2
    err = capsys.readouterr().err
    assert "no run has the baseline model=edsr" in err and "nonlocal, panet, resnet" in err
    assert main([str(sweep), "--out", str(tmp_path / "o"), "--baseline", "model"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_points_of_a_knob_are_averaged_over_seeds_for_the_error_bars() -> None:
    points = [(3.0, 31.0), (1.0, 30.0), (3.0, 31.2), (1.0, 30.4), (2.0, 30.5)]
    (x1, m1, h1, n1), (x2, m2, h2, n2), (x3, m3, h3, n3) = aggregate_points(points)
    assert (x1, n1, x2, n2, x3, n3) == (1.0, 2, 2.0, 1, 3.0, 2)
    assert m1 == pytest.approx(30.2) and h1 == pytest.approx(
        T975[1] * 0.2, 1e-4
    )  # sd 0.2 * sqrt(2), over sqrt(2)
    assert (m2, h2) == (30.5, None)
    assert m3 == pytest.approx(31.1)
