"""The check of a prepared folder: counts, sizes and pairing, and its one-line summary.

Every written file is probed from its header (``data.validation.file_problem``: decodable,
8-bit, one frame, PNG checksums); paired folders are paired by ``data.pairs.discover_pairs`` —
the loader training will use — and every pair must share its name and its size. The count must
equal what the set's ``Output`` expects, and so must every size where the set fixes one.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from data.official_sets import Output, PrepareError, listed, plural
from data.pairs import discover_pairs
from data.validation import file_problem
from panet.imaging.io import is_image_file

Size = tuple[int, int]  # height, width


def _probed_size(path: Path) -> tuple[str | None, Size | None]:
    """``file_problem`` of ``path`` with the image's (height, width) instead of its info."""
    problem, info = file_problem(path)
    return problem, None if info is None else (info.height, info.width)


def probe_all(paths: Sequence[Path], processes: int) -> list[tuple[str | None, Size | None]]:
    """(problem, (height, width)) of every path, in several processes when asked."""
    if processes <= 1 or len(paths) < 256:
        return [_probed_size(p) for p in paths]
    with ProcessPoolExecutor(processes) as pool:
        return list(pool.map(_probed_size, paths, chunksize=256))


def size_text(sizes: Sequence[Size]) -> str:
    """``1280x720`` (width x height) when all agree, else the smallest and largest."""
    if not sizes:
        return "no images"
    if len(set(sizes)) == 1:
        return f"{sizes[0][1]}x{sizes[0][0]}"
    low, high = min(sizes, key=lambda s: s[0] * s[1]), max(sizes, key=lambda s: s[0] * s[1])
    return f"{low[1]}x{low[0]} to {high[1]}x{high[0]}"


def _files_of(output: Output, root: Path) -> tuple[list[Path], list[Path] | None, list[str]]:
    """(images or inputs, targets or None, problems) of one prepared folder."""
    folder = root / output.folder
    if not output.paired:
        return sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p)), None, []
    try:
        pairs = discover_pairs(folder)
    except ValueError as error:
        return [], [], [str(error)]
    lq, gt = list(pairs.lq_paths), list(pairs.gt_paths)
    renamed = [f"{a.name} / {b.name}" for a, b in zip(lq, gt, strict=True) if a.stem != b.stem]
    problems = [f"{len(renamed)} pair(s) do not share a name: {listed(renamed)}"] if renamed else []
    return lq, gt, problems


def check_output(output: Output, root: Path, processes: int = 1) -> str:
    """Check one prepared folder under ``root``; its summary line, or ``PrepareError``
    listing every problem."""
    first, second, problems = _files_of(output, root)
    probed = probe_all([*first, *(second or [])], processes)
    problems += [problem for problem, _ in probed if problem]
    sizes = [size for _, size in probed[: len(first)] if size]
    if second is not None:
        mismatched = [
            f"{a.name} ({a_size[1]}x{a_size[0]}) / {b.name} ({b_size[1]}x{b_size[0]})"
            for a, b, (_, a_size), (_, b_size) in zip(
                first, second, probed[: len(first)], probed[len(first) :], strict=True
            )
            if a_size and b_size and a_size != b_size
        ]
        if mismatched:
            problems.append(f"{len(mismatched)} pair(s) differ in size: {listed(mismatched)}")
    if output.size is not None:
        odd = [
            f"{p.name} ({s[1]}x{s[0]})"
            for p, (_, s) in zip(first, probed, strict=False)
            if s is not None and s != output.size
        ]
        if odd:
            expected = f"{output.size[1]}x{output.size[0]}"
            problems.append(f"{len(odd)} image(s) are not {expected}: {listed(odd)}")
    if output.count is not None and len(first) != output.count:
        problems.append(
            f"{len(first)} {'pairs' if output.paired else 'images'} written, "
            f"{output.count} expected"
        )
    if problems:
        raise PrepareError(f"{output.label} failed its check: " + "; ".join(problems))
    what = (
        f"{plural(len(first), 'pair')} (input/ + target/, paired by name)"
        if output.paired
        else plural(len(first), "image")
    )
    groups = f" from {output.groups}" if output.groups else ""
    return f"{output.label}: {what}{groups}, {size_text(sizes)} (w x h)"
