"""The published numbers shipped with the report: every table has its rows, spot checks against
the paper's text, and the tables that print the same number agree."""

from __future__ import annotations

import pytest

from panet.models import PANet
from panet.models.cost import count_parameters
from panet.report.published import load_rows, load_tables, parse_config


def value(table: str, method: str, set_name: str, setting: str = "") -> tuple:
    (row,) = [
        r
        for r in load_rows()
        if (r.table, r.method, r.set, r.setting) == (table, method, set_name, setting)
    ]
    return row.psnr, row.ssim


def test_every_table_has_rows_and_a_reference_row() -> None:
    rows = load_rows()
    for spec in load_tables():
        methods = {r.method for r in rows if r.table == spec.table}
        assert spec.reference in methods, spec.table
        assert spec.source and spec.metrics
    assert {r.table for r in rows} == {s.table for s in load_tables()}
    # PANet Tables 1-9 plus the CSNLN and MPRNet headline rows
    assert {f"PANet-T{i}" for i in range(1, 10)} <= {s.table for s in load_tables()}


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (("PANet-T1", "PANet", "Urban100", "sigma=50"), (29.47, None)),
        (("PANet-T1", "MemNet", "Kodak24", "sigma=10"), (None, None)),  # N/A in the paper
        (("PANet-T2", "Mosaiced", "Kodak24"), (8.56, 0.0682)),
        (("PANet-T3", "JPEG", "Classic5", "quality=10"), (27.82, 0.7800)),
        (("PANet-T3", "PANet", "LIVE1", "quality=40"), (34.55, 0.9305)),
        (("PANet-T5", "PA-EDSR", "Urban100", "scale=4"), (27.01, 0.8140)),
        (("PANet-T8", "3-level", "Urban100", "sigma=30"), (31.25, None)),
        (("PANet-T9", "Pre+Mid+Post", "Urban100", "sigma=30"), (31.48, None)),
        (("CSNLN", "CSNLN", "Set5", "scale=2"), (38.28, 0.9616)),
        (("MPRNet-deblur", "MPRNet", "GoPro"), (32.66, 0.959)),
    ],
)
def test_spot_values(cell: tuple, expected: tuple) -> None:
    assert value(*cell) == expected


def test_tables_that_share_a_number_agree() -> None:
    # Table 4's PSNR row is Table 1's Urban100 sigma 50 column (PANet), and the ablation
    # tables share their baseline and full-model rows
    assert value("PANet-T4", "PANet", "Urban100", "sigma=50") == value(
        "PANet-T1", "PANet", "Urban100", "sigma=50"
    )
    for table in ("PANet-T6", "PANet-T7", "PANet-T8", "PANet-T9"):
        assert value(table, "baseline", "Urban100", "sigma=30")[0] == 30.86
    assert value("PANet-T7", "block-wise", "Urban100", "sigma=30") == value(
        "PANet-T8", "1-level", "Urban100", "sigma=30"
    )


def test_table4_parameters_match_our_panet() -> None:
    (row,) = [r for r in load_rows() if r.table == "PANet-T4" and r.method == "PANet"]
    assert row.params_k == round(count_parameters(PANet())[0] / 1000)  # 5957K


def test_config_text() -> None:
    assert parse_config("arch=panet;positions=;levels=3") == {
        "arch": "panet",
        "positions": "",
        "levels": "3",
    }
