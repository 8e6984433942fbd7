"""The official data sets in one command: ``python -m data.prepare NAME SOURCE DEST``.

    python -m data.prepare DIV2K downloads/DIV2K_train_HR.zip $PANET_DATA/DIV2K
    python -m data.prepare GoPro downloads/GOPRO_Large.zip $PANET_DATA/GoPro  # --variant blur_gamma
    python -m data.prepare Rain13K downloads/train.zip $PANET_DATA/Rain13K/train
    python -m data.prepare Rain100L downloads/test.zip $PANET_BENCHMARKS/Rain100L  # Test100, ...
    python -m data.prepare SIDD downloads/SIDD_Medium_Srgb.zip $PANET_DATA/SIDD/train
    python -m data.prepare SIDD_val downloads/sidd_val/ $PANET_BENCHMARKS/SIDD_val

SOURCE is the downloaded archive (zip or tar) or the folder it was extracted to; which layouts
are recognized and what lands where: ``data.official_sets``; SIDD's patches and blocks:
``data.sidd``. Paired sets are written as ``input/`` + ``target/`` with one name per pair.

Nothing is written for an unknown or incomplete SOURCE (the message names what is missing;
``--partial`` prepares what is there). Files are written into ``DEST/.prepare-<name>.tmp``
first, every prepared folder is checked (``data.prepared_checks``: counts, sizes, pairing), and
only then moved into place, each with a one-line summary. Existing non-empty output folders are
refused unless ``--overwrite`` (which replaces exactly those folders, after the checks pass).

Exit status: 0 prepared; 1 a prepared folder failed its check (nothing moved into DEST); 2 bad
options, an unreadable, unknown or incomplete SOURCE, or a refused DEST.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from data.archives import FolderSource, Source, SourceError, open_source
from data.official_sets import (
    GOPRO_VARIANTS,
    OFFICIAL_SETS,
    SIDD_VAL_FILES,
    OfficialSet,
    Options,
    Output,
    Plan,
    PrepareError,
    SiddPair,
    listed,
)
from data.prepared_checks import check_output
from data.sidd import cut_pair, write_blocks
from data.workers import resolve_num_workers


class PreparationError(PrepareError):
    """Writing or checking the prepared files failed; nothing was moved into DEST."""


def official_set(name: str) -> OfficialSet:
    """The set called ``name`` (any case); an argparse type."""
    found = OFFICIAL_SETS.get(name.lower())
    if found is None:
        names = ", ".join(s.name for s in OFFICIAL_SETS.values())
        raise argparse.ArgumentTypeError(f"unknown data set {name!r}; choose one of {names}")
    return found


def open_set_source(path: Path) -> Source:
    """The SOURCE: a folder or archive; a single .mat file stands for the folder holding it
    (the SIDD validation files come as two loose files)."""
    if path.is_file() and path.suffix.lower() == ".mat":
        return FolderSource(path.parent, recursive=False)
    return open_source(path)


def occupied(dest: Path, outputs: Sequence[Output]) -> list[str]:
    """The output paths under ``dest`` that already hold something."""
    taken = []
    for entry in (e for o in outputs for e in o.entries()):
        path = dest / entry
        if path.is_file() or (path.is_dir() and any(path.iterdir())):
            count = sum(1 for p in path.rglob("*") if p.is_file()) if path.is_dir() else 1
            taken.append(f"{path} ({count} file(s))")
    return taken


def copy_files(source: Source, copies: dict[str, str], stage: Path, advance: Callable) -> None:
    """Write each source file's bytes, unchanged, to its place under ``stage``."""
    for member, data in source.read(copies):
        target = stage / copies[member]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        advance(1)


def cut_sidd(
    source: Source,
    pairs: Sequence[SiddPair],
    stage: Path,
    options: Options,
    processes: int,
    advance: Callable,
) -> None:
    """Cut every SIDD pair into patches as its two files arrive from the source, in up to
    ``processes`` processes (at most two pairs per process wait in memory)."""
    by_member = {m: p for p in pairs for m in (p.noisy, p.gt)}
    arrived: dict[str, bytes] = {}
    pool = ProcessPoolExecutor(processes) if processes > 1 else None
    pending: set[Future] = set()

    def settle(done: set[Future]) -> None:
        for future in done:
            future.result()  # re-raises a worker's error
            advance(1)

    try:
        for member, data in source.read(by_member):
            arrived[member] = data
            pair = by_member[member]
            if pair.noisy not in arrived or pair.gt not in arrived:
                continue
            job = (arrived.pop(pair.noisy), arrived.pop(pair.gt), pair.name, stage)
            job += (options.patch_size, options.patches_per_image, options.seed)
            job += ((pair.noisy, pair.gt),)
            if pool is None:
                cut_pair(*job)
                advance(1)
                continue
            pending.add(pool.submit(cut_pair, *job))
            if len(pending) >= 2 * processes:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                settle(done)
        settle(pending)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def write_plan(plan: Plan, source: Source, stage: Path, options: Options, processes: int) -> None:
    """Everything the plan writes, into ``stage``."""
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        if plan.copies:
            job = progress.add_task("copying", total=len(plan.copies))
            copy_files(source, plan.copies, stage, lambda n: progress.advance(job, n))
        if plan.sidd_pairs:
            job = progress.add_task("cutting SIDD pairs", total=len(plan.sidd_pairs))
            advance = lambda n: progress.advance(job, n)  # noqa: E731
            cut_sidd(source, plan.sidd_pairs, stage, options, processes, advance)
        if plan.mat_files:
            noisy, gt = (source.read_one(m) for m in plan.mat_files)
            keys = tuple(Path(name).stem for name in SIDD_VAL_FILES)
            write_blocks(noisy, gt, stage, plan.mat_shape, keys, plan.mat_files)


def move_into_place(stage: Path, dest: Path, outputs: Sequence[Output]) -> None:
    """Replace each output path under ``dest`` by its checked copy under ``stage``."""
    for entry in (e for o in outputs for e in o.entries()):
        target = dest / entry
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        (stage / entry).replace(target)


def prepare(
    official: OfficialSet,
    source_path: Path,
    dest: Path,
    options: Options,
    *,
    overwrite: bool = False,
    processes: int = 1,
    say: Callable[[str], None] = print,
) -> list[str]:
    """Prepare one set (see the module docstring); returns the summary lines.

    Raises ``SourceError``/``PrepareError`` (``ValueError``) before anything is written for an
    unreadable, unknown or incomplete source or an occupied destination, and
    ``PreparationError`` when writing fails (a damaged file) or a prepared folder fails its
    check; then nothing is moved into ``dest``."""
    source = open_set_source(source_path)
    plan = official.plan(source.files, options, source.label)
    taken = occupied(dest, plan.outputs)
    if taken and not overwrite:
        raise PrepareError(
            f"{listed(taken)} already hold(s) files; remove them, choose another DEST, or pass "
            "--overwrite to replace exactly these folders"
        )
    stage = dest / f".prepare-{official.name}.tmp"
    if stage.exists():
        shutil.rmtree(stage)  # left by an interrupted run
    stage.mkdir(parents=True)
    try:
        write_plan(plan, source, stage, options, processes)
        summaries = [check_output(o, stage, processes) for o in plan.outputs]
        move_into_place(stage, dest, plan.outputs)
    except (ValueError, OSError) as error:
        raise PreparationError(f"{error}. Nothing was moved into {dest}") from error
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    for note in plan.notes:
        say(note)
    return [f"{line} -> {dest / o.folder}" for line, o in zip(summaries, plan.outputs, strict=True)]


def build_parser() -> argparse.ArgumentParser:
    names = ", ".join(s.name for s in OFFICIAL_SETS.values())
    parser = argparse.ArgumentParser(
        prog="python -m data.prepare",
        description="Prepare an official data set from its downloaded archive or folder.",
        epilog="Sets: " + "; ".join(f"{s.name}: {s.what}" for s in OFFICIAL_SETS.values()),
    )
    parser.add_argument("name", type=official_set, metavar="NAME", help=names)
    parser.add_argument("source", type=Path, metavar="SOURCE", help="archive (zip/tar) or folder")
    parser.add_argument("dest", type=Path, metavar="DEST", help="output folder")
    parser.add_argument(
        "--variant",
        choices=GOPRO_VARIANTS,
        default="blur",
        help="GoPro inputs: blur (default; MPRNet's published results) or blur_gamma",
    )
    parser.add_argument(
        "--partial", action="store_true", help="prepare an incomplete set (what is there)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace output folders that hold files"
    )
    parser.add_argument("--patch-size", type=int, default=256, help="SIDD patch side (256)")
    parser.add_argument(
        "--patches-per-image", type=int, default=300, help="SIDD patches per image pair (300)"
    )
    parser.add_argument("--seed", type=int, default=0, help="SIDD patch positions (0)")
    parser.add_argument("--workers", default="auto", help="processes (auto: this job's CPUs)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.patch_size < 1 or args.patches_per_image < 1:
        parser.error("--patch-size and --patches-per-image must be >= 1")
    try:
        workers = args.workers if args.workers == "auto" else int(args.workers)
        processes = max(1, resolve_num_workers(workers) + 1)  # no training loop to leave a CPU
    except ValueError as error:
        parser.error(f"--workers: {error}")
    options = Options(
        variant=args.variant,
        partial=args.partial,
        patch_size=args.patch_size,
        patches_per_image=args.patches_per_image,
        seed=args.seed,
    )
    start = time.perf_counter()
    try:
        summaries = prepare(
            args.name,
            args.source,
            args.dest,
            options,
            overwrite=args.overwrite,
            processes=processes,
            say=lambda line: print(line, file=sys.stderr),
        )
    except PreparationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (SourceError, PrepareError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for line in summaries:
        print(line)
    print(f"prepared {args.name.name} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
