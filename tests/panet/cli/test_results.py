"""The results table shared by train.py and evaluate.py."""

from __future__ import annotations

import pytest

from panet.cli.results import print_results_table, results_by_set


def test_flat_metrics_group_by_set_in_order() -> None:
    metrics = {
        "test/Kodak24/psnr": 30.0,
        "test/Kodak24/psnr_input": 20.0,
        "test/CBSD68/psnr": 29.0,
        "val/Kodak24/psnr": 1.0,
        "step": 10,
    }
    assert results_by_set(metrics, "test/") == {
        "Kodak24": {"psnr": 30.0, "psnr_input": 20.0},
        "CBSD68": {"psnr": 29.0},
    }
    assert results_by_set({"Set5/ssim": 0.9, "meta": 1.0}) == {"Set5": {"ssim": 0.9}}


def test_table_shows_gain_and_missing_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    per_set = {"Set5": {"n_images": 5, "psnr_input": 28.42, "psnr": 30.5, "ssim": 0.9}}
    print_results_table(per_set, title="sr")
    out = capsys.readouterr().out
    assert "Set5" in out and "+2.08" in out and "30.50" in out and "nan" in out
    print_results_table({}, title="nothing")
    assert capsys.readouterr().out == ""
