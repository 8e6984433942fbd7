"""Rows of ``benchmarks/gpu_check.sh`` and the one Markdown table made of them.

Every step of the check runs in its own process and appends its rows, one JSON object per line,
to ``OUT/rows/<step>.jsonl``: first each row it means to measure (status ``planned``), then each
result as soon as it is known. The shell writes ``OUT/rows/<step>.exit`` (exit status, seconds,
time limit) when the process ends. ``build_table`` reads both, so a step that crashed or ran
out of time still shows every row it had planned, with what happened to it; a step whose
process died before planning anything is one row of its own.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

OK, OOM, FAILED, SKIPPED, PLANNED = "ok", "OOM", "failed", "skipped", "planned"
TIMED_OUT, NOT_RUN = "timed out", "not run"
#: Statuses that say nothing is broken (an out-of-memory is a measured result).
FINE = (OK, OOM, SKIPPED)
#: Exit statuses of ``timeout`` for a process it stopped (SIGTERM, then SIGKILL).
TIMEOUT_EXITS = (124, 137)
COLUMNS = ("group", "case", "variant", "status", "time", "peak MiB", "rel. error", "notes")


@dataclass
class Row:
    """One line of the table. ``time`` and ``rel_error`` are already formatted (their unit
    differs by group: ms per call or per step, seconds of a whole run)."""

    group: str
    case: str
    variant: str = ""
    status: str = PLANNED
    time: str = ""
    peak_mib: float | None = None
    rel_error: str = ""
    notes: str = ""

    @property
    def key(self) -> str:
        return f"{self.group}|{self.case}|{self.variant}"

    def note(self, text: str) -> None:
        """Append ``text`` to the notes."""
        self.notes = f"{self.notes}; {text}" if self.notes else text


class RowLog:
    """Appends one step's rows to ``OUT/rows/<step>.jsonl`` (flushed line by line)."""

    def __init__(self, out: Path, step: str) -> None:
        self.path = out / "rows" / f"{step}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, row: Row) -> None:
        with self.path.open("a") as handle:
            handle.write(json.dumps(asdict(row)) + "\n")

    def plan(self, rows: list[Row]) -> None:
        for row in rows:
            self.write(row)


def read_rows(path: Path) -> list[Row]:
    """The rows of one step file, the last record of each row winning, in planned order."""
    rows: dict[str, Row] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                row = Row(**json.loads(line))
                rows[row.key] = row
    return list(rows.values())


def all_rows(out: Path) -> list[Row]:
    """Every row recorded so far under ``out`` (steps in their numbered order)."""
    return [row for path in sorted((out / "rows").glob("*.jsonl")) for row in read_rows(path)]


def last_log_line(log: Path) -> str:
    """The last non-empty line of a step's raw log (what a failure said last)."""
    if not log.is_file():
        return "no log"
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1][:200] if lines else "empty log"


def settle(rows: list[Row], exit_record: str | None, step: str, out: Path) -> list[Row]:
    """The step's rows with every row still ``planned`` given what happened to its process
    (``exit_record``: "<status> <seconds> <limit>" or "skip <seconds left>")."""
    fields = (exit_record or "").split()
    log_name = f"logs/{step}.log"
    if fields and fields[0] == "skip":
        status, note = NOT_RUN, "the time budget was spent before this step (--budget)"
    elif not fields:
        status, note = FAILED, f"the step never finished; see {log_name}"
    elif int(fields[0]) in TIMEOUT_EXITS:
        status, note = TIMED_OUT, f"stopped after its {fields[2]} s limit; see {log_name}"
    else:
        status = FAILED
        note = f"the step's process ended (exit {fields[0]}): {last_log_line(out / log_name)}"
    if not rows:
        return [Row(group=step.split("-", 1)[-1], case="(whole step)", status=status, notes=note)]
    for row in rows:
        if row.status == PLANNED:
            row.status = status
            row.note(note)
    return rows


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def format_table(rows: list[Row]) -> str:
    """The Markdown table of ``rows``."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        peak = "" if row.peak_mib is None else f"{row.peak_mib:,.0f}"
        cells = (row.group, row.case, row.variant, row.status, row.time, peak)
        cells += (row.rel_error, row.notes)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def build_table(out: Path) -> tuple[str, list[Row]]:
    """Every step's settled rows under ``out`` and their Markdown table."""
    rows: list[Row] = []
    for exit_path in sorted((out / "rows").glob("*.exit")):
        step = exit_path.stem
        step_rows = read_rows(out / "rows" / f"{step}.jsonl")
        rows += settle(step_rows, exit_path.read_text().strip(), step, out)
    return format_table(rows), rows


def summary(rows: list[Row]) -> str:
    """One line: how many rows ended in each status."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return f"{len(rows)} rows: " + ", ".join(f"{n} {status}" for status, n in counts.items())


__all__ = [
    "COLUMNS",
    "FINE",
    "Row",
    "RowLog",
    "all_rows",
    "build_table",
    "format_table",
    "read_rows",
    "settle",
    "summary",
]
