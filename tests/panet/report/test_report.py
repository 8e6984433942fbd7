"""``python -m panet.report`` on metrics files written here in the formats of train.py and
evaluate.py: tables in the paper's layout with our rows and the differences, CSV files, the
PNG of a swept knob, and clear errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from panet.report.__main__ import main
from panet.report.runs import collect_runs, setting_of

REPO_ROOT = Path(__file__).resolve().parents[3]
#: PANet arguments as train.py records them (arch_args), R = 16 (the ablation base).
R16 = {
    "n_colors": 3,
    "n_feats": 64,
    "n_resblocks": 16,
    "positions": ["mid"],
    "levels": 5,
    "scales": None,
    "patch_size": 3,
    "softmax_scale": 10.0,
    "reduction": 2,
    "hard": False,
    "attention_impl": "fast",
}
#: Our Urban100 sigma 30 PSNR per pyramid level, and Table 8's.
OURS = {1: 30.91, 2: 31.02, 3: 31.10}
TABLE8 = {1: 31.21, 2: 31.23, 3: 31.25}


def write_run(folder: Path, metrics: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "metrics.json"
    path.write_text(json.dumps(metrics))
    return path


def train_meta(arch_args: dict, sigma: int, overrides: list[str], params: int) -> dict:
    return {
        "task": "denoise",
        "model": "panet",
        "arch": "panet",
        "arch_args": arch_args,
        "degradation": {"_target_": "data.degradations.GaussianNoise", "sigma": sigma},
        "overrides": overrides,
        "tags": [],
        "cost": {"params_total": params, "params_trainable": params},
    }


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    """A levels sweep (3 jobs, R = 16), a full PANet at two noise levels, an evaluate.py run of
    the mosaiced input, and a metrics file without test scores."""
    sweep = tmp_path / "multirun" / "denoise" / "levels"
    for job, (levels, psnr) in enumerate(OURS.items()):
        write_run(
            sweep / str(job),
            {
                "val/Kodak24/psnr": 99.0,  # validation is not a test result
                "test/Urban100/psnr": psnr,
                "test/Urban100/ssim": 0.9,
                "monitor_best": 99.0,
                "meta": train_meta(
                    {**R16, "levels": levels},
                    30,
                    ["experiment=ablation_r16_sigma30", f"pyramid.levels={levels}"],
                    1_400_000,
                ),
            },
        )
    for sigma, psnr in ((10, 37.0), (30, 31.9)):
        write_run(
            tmp_path / "train" / f"sigma{sigma}",
            {
                "test/Kodak24/psnr": psnr,
                "test/CBSD68/psnr": psnr - 1,
                "meta": train_meta(
                    {**R16, "n_resblocks": 80},
                    sigma,
                    [f"experiment=panet_dn_sigma{sigma}"],
                    5_957_255,
                ),
            },
        )
    write_run(
        tmp_path / "evaluate" / "mosaic",
        {
            "Kodak24/psnr": 8.5612,
            "Kodak24/ssim": 0.0682,
            "meta": {
                "task": "demosaic",
                "degradation": {"name": "bayer_mosaic", "pattern": "GRBG"},
                "network": {"arch": "identity", "arch_args": {}, "source": "identity"},
            },
        },
    )
    write_run(tmp_path / "broken", {"step": 3})
    return tmp_path


def rows_of(path: Path) -> dict[str, dict[str, str]]:
    return {row["method"]: row for row in csv.DictReader(path.open())}


def test_reading_runs(runs_root: Path) -> None:
    runs, skipped = collect_runs([runs_root])
    assert len(runs) == 6 and [p.parent.name for p in skipped] == ["broken"]
    full = next(r for r in runs if r.path.parent.name == "sigma30")
    assert full.setting == "sigma=30" and set(full.scores) == {"Kodak24", "BSD68"}
    assert full.facts["n_resblocks"] == "80" and full.facts["positions"] == "mid"
    assert full.params_k == pytest.approx(5957.255)
    assert setting_of({"name": "jpeg", "quality": 10}) == "quality=10"
    assert setting_of({"scale": 1}) == "" and setting_of(None) == ""


def test_report_tables_differences_and_plot(runs_root: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    assert main([str(runs_root), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "skipped" in printed.err and "broken" in printed.err

    # Table 8: the paper's rows, then each of our levels with its difference from the paper's
    table8 = rows_of(out / "PANet-T8.csv")
    column = "Urban100 σ30 PSNR"
    assert table8["5-level"][column] == "31.29" and table8["baseline"]["kind"] == "paper"
    ours = {k: v for k, v in table8.items() if v["kind"] == "ours"}
    assert sorted(ours) == [f"ours: panet levels={k}" for k in OURS]
    lines = list(csv.DictReader((out / "PANet-T8.csv").open()))
    for index, line in enumerate(lines):
        if line["kind"] == "ours":
            levels = int(line["method"].rsplit("=", 1)[1])
            diff = lines[index + 1]
            assert diff["kind"] == "diff" and diff["method"] == f"Δ vs {levels}-level (paper)"
            expected = OURS[levels] - TABLE8[levels]
            assert float(diff[column]) == pytest.approx(expected, abs=1e-6)
            assert float(line["params_k"]) == 1400

    # Table 1: the full PANet's two runs (sigma 10 and 30) share one row; CBSD68 is BSD68
    table1 = rows_of(out / "PANet-T1.csv")
    (ours_full,) = [v for v in table1.values() if v["kind"] == "ours"]
    assert ours_full["method"] == "ours: panet"  # the R = 16 jobs sit in Tables 6-9 only
    assert ours_full["Kodak24 σ10 PSNR"] == "37.0" and ours_full["BSD68 σ30 PSNR"] == "30.9"
    diff = table1["Δ vs PANet (paper)"]
    assert float(diff["Kodak24 σ30 PSNR"]) == pytest.approx(31.9 - 31.88)

    # Table 2 from an evaluate.py file: the mosaiced input against the paper's "Mosaiced" row
    table2 = rows_of(out / "PANet-T2.csv")
    assert float(table2["Δ vs Mosaiced (paper)"]["Kodak24 PSNR"]) == pytest.approx(0.0012)
    assert float(table2["Δ vs Mosaiced (paper)"]["Kodak24 SSIM"]) == pytest.approx(0.0)

    report = (out / "report.md").read_text()
    assert "### PANet-T8: Ablation: pyramid levels" in report
    assert "| ours: panet levels=2 | 1400 | 31.02 |" in report
    assert "| *Δ vs 2-level (paper)* | – | -0.21 |" in report
    assert "Mei et al. 2020 (PANet), Table 8" in report
    assert "PANet-T3" not in report  # no run of that task: not printed without --all
    assert report in printed.out

    # the swept knob (pyramid.levels) was found and plotted
    png = out / "psnr_vs_pyramid.levels.png"
    assert "![PSNR against pyramid.levels](psnr_vs_pyramid.levels.png)" in report
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size[0] > 300
        pixels = np.asarray(image.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # lines, not a blank canvas


def test_all_prints_every_published_table(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path), "--all", "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "### PANet-T3" in printed and "### MPRNet-deblur" in printed


def test_clear_errors(tmp_path: Path, runs_root: Path, capsys) -> None:
    assert main([str(tmp_path / "missing")]) == 2
    assert "neither a metrics.json nor a folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty), "--out", str(tmp_path / "o")]) == 1
    assert "no run with test scores" in capsys.readouterr().err
    assert main([str(runs_root), "--plot", "optimizer.lr", "--out", str(tmp_path / "o")]) == 2
    assert "swept knobs: ['pyramid.levels']" in capsys.readouterr().err


def test_the_command(runs_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = subprocess.run(
        [sys.executable, "-m", "panet.report", str(runs_root / "multirun"), "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "### PANet-T8" in result.stdout and (out / "psnr_vs_pyramid.levels.png").is_file()
