"""The two text formats every summary and report writes: Markdown tables and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

LEFT, RIGHT, PLAIN = ":--", "--:", "---"


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None
) -> list[str]:
    """The lines of a Markdown table; ``align`` gives each column's rule (``LEFT``, ``RIGHT``,
    default ``PLAIN``). A ``|`` inside a cell is escaped so that it cannot split the row."""
    rules = list(align) if align is not None else [PLAIN] * len(header)
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(rules) + "|",
        *("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows),
    ]


def csv_text(header: Sequence[str], lines: Sequence[Sequence[object]]) -> str:
    """A CSV document: the header line, then one line per entry of ``lines``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(lines)
    return buffer.getvalue()
