"""``python -m panet.report PATH... [--out DIR] [--plot KNOB] [--all] [--baseline KEY=VALUE]``

Reads the ``metrics.json`` of the given runs, sweep folders or files, prints one Markdown table
per published table that one of the runs belongs to (the paper's rows, ours, the differences;
runs that differ only by seed as one row, mean ± 95 % CI and n) and writes ``{out}/report.md``,
``{out}/{table}.csv`` and, for each swept numeric knob (or the ``--plot`` ones),
``{out}/psnr_vs_{knob}.png`` (error bars over seeds). ``--baseline`` adds the differences from
that configuration paired by seed (``{out}/paired_differences.csv``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from panet.atomic import write_text_atomic
from panet.report import paired
from panet.report.plot import plot_knob, swept_knobs
from panet.report.published import load_rows, load_tables
from panet.report.render import to_csv, to_markdown
from panet.report.runs import collect_runs, unfinished_jobs
from panet.report.tables import build_tables

PAIRED_CSV = "paired_differences.csv"


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
    parser.add_argument(
        "--baseline",
        metavar="KEY=VALUE",
        help="compare every configuration with the one that has this override, seed by seed "
        "(paired difference, 95%% CI, verdict), e.g. 'pyramid.positions=[]' or model=resnet",
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
    unfinished = unfinished_jobs(args.paths, runs)
    if unfinished:
        print(
            f"panet.report: {len(unfinished)} job folder(s) without test scores (failed, killed "
            "or running); their seeds are listed as missing",
            file=sys.stderr,
        )
    if not runs and not args.all:
        print(
            "panet.report: no run with test scores found under " + ", ".join(args.paths),
            file=sys.stderr,
        )
        return 1
    published = load_rows()
    tables = build_tables(
        load_tables(), published, runs, include_empty=args.all, unfinished=unfinished
    )
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
    if args.baseline:
        try:
            comparisons = paired.paired_tables(runs, unfinished, args.baseline)
        except ValueError as error:
            print(f"panet.report: --baseline: {error}", file=sys.stderr)
            return 2
        markdown += [paired.to_markdown(table) for table in comparisons]
        write_text_atomic(out / PAIRED_CSV, paired.to_csv(comparisons))
    report = "\n".join(markdown)
    write_text_atomic(out / "report.md", report)
    print(report)
    print(f"written: {out / 'report.md'} and {len(tables)} CSV file(s) in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
