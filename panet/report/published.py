"""The published numbers the report compares with: data files in ``published/``.

``tables.csv`` lists the tables (task, title, the metrics their cells show, the reference
method, the source: paper and table); each number file (``panet_2020.csv``, ...) holds one row
per (table, method, set, setting) with PSNR, SSIM, parameters (K) where the paper gives them, and
``config``: the architecture the row corresponds to (``arch=panet;n_resblocks=16;levels=3``),
which pairs a run with the published row of the same configuration. Lines starting with ``#``
are comments.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

#: The folder of the data files, shipped with the package.
DATA_DIR = Path(__file__).resolve().parent / "published"
TABLES_FILE = "tables.csv"


@dataclass(frozen=True)
class PublishedTable:
    """One table of a paper, as the report lays it out."""

    table: str
    task: str
    title: str
    metrics: tuple[str, ...]
    reference: str
    source: str


@dataclass(frozen=True)
class PublishedRow:
    """One published number pair: ``method`` on ``set`` under ``setting`` (e.g. ``sigma=30``)."""

    table: str
    method: str
    set: str
    setting: str
    psnr: float | None
    ssim: float | None
    params_k: float | None = None
    config: dict[str, str] = field(default_factory=dict)
    note: str = ""


def read_data_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV data file as dicts, ``#`` comment lines skipped."""
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


def parse_config(text: str) -> dict[str, str]:
    """``"arch=panet;levels=3"`` -> ``{"arch": "panet", "levels": "3"}`` (empty values kept)."""
    pairs = [part.split("=", 1) for part in text.split(";") if "=" in part]
    return {key.strip(): value.strip() for key, value in pairs}


def _number(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None


def load_tables(data_dir: Path = DATA_DIR) -> list[PublishedTable]:
    """Every table of ``tables.csv``, in file order (a task's first table is its main one)."""
    return [
        PublishedTable(
            table=row["table"],
            task=row["task"],
            title=row["title"],
            metrics=tuple(row["metrics"].split("+")),
            reference=row["reference"],
            source=row["source"],
        )
        for row in read_data_csv(data_dir / TABLES_FILE)
    ]


def load_rows(data_dir: Path = DATA_DIR) -> list[PublishedRow]:
    """Every published number of the files ``tables.csv`` names, in file order."""
    files = dict.fromkeys(row["file"] for row in read_data_csv(data_dir / TABLES_FILE))
    rows = []
    for name in files:
        for row in read_data_csv(data_dir / name):
            rows.append(
                PublishedRow(
                    table=row["table"],
                    method=row["method"],
                    set=row["set"],
                    setting=row["setting"],
                    psnr=_number(row["psnr"]),
                    ssim=_number(row["ssim"]),
                    params_k=_number(row.get("params_k")),
                    config=parse_config(row.get("config") or ""),
                    note=row.get("note") or "",
                )
            )
    return rows


__all__ = [
    "DATA_DIR",
    "PublishedRow",
    "PublishedTable",
    "load_rows",
    "load_tables",
    "parse_config",
    "read_data_csv",
]
