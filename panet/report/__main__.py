"""``python -m panet.report PATH... [--out DIR] [--plot KNOB] [--all]``

Reads the ``metrics.json`` of the given runs, sweep folders or files, prints one Markdown table
per published table that one of the runs belongs to (the paper's rows, ours, the differences)
and writes ``{out}/report.md``, ``{out}/{table}.csv`` and, for each swept numeric knob (or the
``--plot`` ones), ``{out}/psnr_vs_{knob}.png``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from panet.atomic import write_text_atomic
from panet.report.plot import plot_knob, swept_knobs
from panet.report.published import load_rows, load_tables
from panet.report.render import to_csv, to_markdown
from panet.report.runs import collect_runs
from panet.report.tables import build_tables


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m panet.report",
        description="Our runs beside the published tables (Markdown, CSV, PNG).",
    )
    parser.add_argument("paths", nargs="+", help="metrics.json files, run or sweep folders")
    parser.add_argument(
        "--out", default="outputs/report", help="output folder (default: outputs/report)"
    )
    parser.add_argument(
        "--plot",
        action="append",
        default=None,
        help="numeric knob to plot PSNR against, e.g. pyramid.levels (repeatable; default: "
        "every override swept with numeric values)",
    )
    parser.add_argument(
        "--all", action="store_true", help="also print published tables without any of our runs"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        runs, skipped = collect_runs(args.paths)
    except FileNotFoundError as error:
        print(f"panet.report: {error}", file=sys.stderr)
        return 2
    for path in skipped:
        print(f"panet.report: skipped {path} (no test scores or no meta)", file=sys.stderr)
    if not runs and not args.all:
        print(
            "panet.report: no run with test scores found under " + ", ".join(args.paths),
            file=sys.stderr,
        )
        return 1
    published = load_rows()
    tables = build_tables(load_tables(), published, runs, include_empty=args.all)
    out = Path(args.out)
    markdown = [f"# Report: {len(runs)} run(s) beside the published tables", ""]
    for table in tables:
        text = to_markdown(table)
        markdown.append(text)
        write_text_atomic(out / f"{table.spec.table}.csv", to_csv(table))
    knobs = args.plot if args.plot is not None else swept_knobs(runs)
    for knob in knobs:
        try:
            path = plot_knob(runs, published, knob, out / f"psnr_vs_{knob}.png")
        except ValueError as error:
            print(f"panet.report: {error}", file=sys.stderr)
            return 2
        markdown.append(f"![PSNR against {knob}]({path.name})\n")
    report = "\n".join(markdown)
    write_text_atomic(out / "report.md", report)
    print(report)
    print(f"written: {out / 'report.md'} and {len(tables)} CSV file(s) in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
