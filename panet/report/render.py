"""A report table as Markdown (cells ``PSNR`` or ``PSNR / SSIM``, differences signed) and as a
wide CSV (one PSNR and one SSIM column per table column; plain numbers)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from panet.report.tables import DIFF, Column, Row, Table

_SETTING_MARKS = {"sigma": "σ", "quality": "q", "scale": "×"}
_DIGITS = {"psnr": 2, "ssim": 4}


def column_title(column: Column) -> str:
    """``("Urban100", "sigma=30")`` -> ``Urban100 σ30``."""
    name, setting = column
    if not setting:
        return name
    key, value = setting.split("=", 1)
    return f"{name} {_SETTING_MARKS.get(key, key + '=')}{value}"


def number(value: float | None, metric: str, signed: bool) -> str:
    if value is None:
        return ""
    digits = _DIGITS.get(metric, 2)
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def cell_text(row: Row, column: Column, metrics: Sequence[str]) -> str:
    values = row.cells.get(column, {})
    parts = [number(values.get(m), m, row.kind == DIFF) for m in metrics]
    if not any(parts):
        return "–"
    return " / ".join(p or "–" for p in parts)


def params_text(row: Row) -> str:
    if row.params_k is None:
        return "–"
    digits = 0 if abs(row.params_k) >= 100 else 1  # tiny test networks keep a digit
    return f"{row.params_k:+.{digits}f}" if row.kind == DIFF else f"{row.params_k:.{digits}f}"


def to_markdown(table: Table) -> str:
    """``### {table}: {title}``, the source line, then the table."""
    spec = table.spec
    header = ["method", *(["params (K)"] if table.has_params else [])]
    header += [column_title(c) for c in table.columns]
    lines = [
        f"### {spec.table}: {spec.title}",
        "",
        f"Published numbers: {spec.source}. Cells: {' / '.join(m.upper() for m in spec.metrics)}"
        "; Δ rows: ours minus the paper's row of the same configuration.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":--"] + ["--:"] * (len(header) - 1)) + "|",
    ]
    for row in table.rows:
        label = f"*{row.label}*" if row.kind == DIFF else row.label
        if row.note:
            label += f" ({row.note})"
        cells = [label.replace("|", "\\|"), *([params_text(row)] if table.has_params else [])]
        cells += [cell_text(row, c, spec.metrics) for c in table.columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """One line per row: method, kind (paper / ours / diff), params (K), then per column and
    metric the number (empty where there is none)."""
    metrics = table.spec.metrics
    header = ["method", "kind", "params_k"]
    header += [f"{column_title(c)} {m.upper()}" for c in table.columns for m in metrics]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in table.rows:
        values = [row.cells.get(c, {}).get(m) for c in table.columns for m in metrics]
        writer.writerow(
            [
                row.label,
                row.kind,
                "" if row.params_k is None else f"{row.params_k:g}",
                *("" if v is None else repr(round(v, 6)) for v in values),
            ]
        )
    return buffer.getvalue()


__all__ = ["column_title", "to_csv", "to_markdown"]
