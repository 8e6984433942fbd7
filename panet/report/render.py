"""A report table as Markdown (cells ``PSNR`` or ``PSNR / SSIM``, differences signed; a mean
over seeds as ``31.10 ± 0.05`` with an ``n`` column) and as a wide CSV (one PSNR and one SSIM
column per table column, their ``±`` half-widths where there are seeds; plain numbers)."""

from __future__ import annotations

from collections.abc import Sequence

from panet.report.markdown import LEFT, RIGHT, csv_text, markdown_table
from panet.report.seeds import seeds_text
from panet.report.tables import DIFF, OURS, Column, Row, Table

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


def half_width(row: Row, column: Column, metric: str) -> float | None:
    estimate = row.intervals.get(column, {}).get(metric)
    return None if estimate is None else estimate.half_width


def cell_text(row: Row, column: Column, metrics: Sequence[str]) -> str:
    values = row.cells.get(column, {})
    parts = []
    for metric in metrics:
        text = number(values.get(metric), metric, row.kind == DIFF)
        spread = half_width(row, column, metric)
        if text and spread is not None:
            text += f" ± {number(spread, metric, False)}"
        parts.append(text)
    if not any(parts):
        return "–"
    return " / ".join(p or "–" for p in parts)


def has_seeds(table: Table) -> bool:
    """Whether a row of ours aggregates several seeds or misses some."""
    return any(row.n > 1 or row.missing for row in table.rows if row.kind == OURS)


def n_text(row: Row) -> str:
    """``3``, ``2 (missing: 3)``; ``–`` for the paper's and the difference rows."""
    if row.kind != OURS:
        return "–"
    missing = f" (missing: {seeds_text(row.missing)})" if row.missing else ""
    return f"{row.n}{missing}"


def params_text(row: Row) -> str:
    if row.params_k is None:
        return "–"
    digits = 0 if abs(row.params_k) >= 100 else 1  # tiny test networks keep a digit
    return f"{row.params_k:+.{digits}f}" if row.kind == DIFF else f"{row.params_k:.{digits}f}"


def to_markdown(table: Table) -> str:
    """``### {table}: {title}``, the source line, then the table."""
    spec = table.spec
    seeds = has_seeds(table)
    header = ["method", *(["params (K)"] if table.has_params else []), *(["n"] if seeds else [])]
    header += [column_title(c) for c in table.columns]
    lines = [
        f"### {spec.table}: {spec.title}",
        "",
        f"Published numbers: {spec.source}. Cells: {' / '.join(m.upper() for m in spec.metrics)}"
        "; Δ rows: ours minus the paper's row of the same configuration."
        + (" Ours over n seeds: mean ± 95 % CI (Student t)." if seeds else ""),
        "",
    ]
    rows = []
    for row in table.rows:
        label = f"*{row.label}*" if row.kind == DIFF else row.label
        if row.note:
            label += f" ({row.note})"
        cells = [label, *([params_text(row)] if table.has_params else [])]
        cells += [n_text(row)] if seeds else []
        cells += [cell_text(row, c, spec.metrics) for c in table.columns]
        rows.append(cells)
    lines += markdown_table(header, rows, [LEFT] + [RIGHT] * (len(header) - 1))
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """One line per row: method, kind (paper / ours / diff), params (K), then per column and
    metric the number (empty where there is none); with seeds also ``n``, the seeds, the
    missing seeds and after each number its ``±`` (half the 95 % interval)."""
    metrics = table.spec.metrics
    seeds = has_seeds(table)
    header = ["method", "kind", "params_k", *(["n", "seeds", "missing_seeds"] if seeds else [])]
    for column in table.columns:
        for metric in metrics:
            header.append(f"{column_title(column)} {metric.upper()}")
            header += [f"{column_title(column)} {metric.upper()} ±"] if seeds else []
    lines = []
    for row in table.rows:
        line = [row.label, row.kind, "" if row.params_k is None else f"{row.params_k:g}"]
        if seeds:
            ours = row.kind == OURS
            line += [row.n if ours else "", seeds_text(row.seeds) if ours else ""]
            line += [seeds_text(row.missing) if ours else ""]
        for column in table.columns:
            for metric in metrics:
                line.append(plain_number(row.cells.get(column, {}).get(metric)))
                if seeds:
                    line.append(plain_number(half_width(row, column, metric)))
        lines.append(line)
    return csv_text(header, lines)


def plain_number(value: float | None) -> str:
    return "" if value is None else repr(round(value, 6))


__all__ = ["column_title", "to_csv", "to_markdown"]
