"""Every input image checked at set-up, before the first training step or evaluation.

A corrupt file among hundreds used to surface only when a sample drew it (a crash at step 120,
again after resume) or at the test after all training steps. ``check_datamodule_inputs``
resolves every source of a ``RestorationDataModule`` (training, validation and test sets) and
probes each file's header (``panet.imaging.io.probe_image``: no full decode), also checking
what the header can tell: training images at least one patch large, paired LQ/GT sizes that
agree with the scale. All problems are reported together, in one ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from data.sources import ImageFiles, PairedFolders
from panet.imaging.io import probe_image

#: At most this many problems are listed; the count says how many there are.
SHOWN_PROBLEMS = 10


def file_problem(path: Path) -> tuple[str | None, tuple[int, int] | None]:
    """(problem, None) for an unusable file, else (None, (height, width))."""
    try:
        return None, probe_image(path)
    except (ValueError, FileNotFoundError) as error:
        return str(error), None


def source_problems(source: Any, *, min_side: int | None = None, scale: int = 1) -> list[str]:
    """Problems of every file of an ``ImageFiles`` or ``PairedFolders`` source.

    ``min_side``: the smallest GT side a training crop needs (patch_size x scale).
    """
    problems: list[str] = []
    if isinstance(source, PairedFolders):
        for index in range(len(source)):
            lq_path, gt_path = source.paths(index)
            lq_problem, lq_size = file_problem(lq_path)
            gt_problem, gt_size = file_problem(gt_path)
            problems += [p for p in (lq_problem, gt_problem) if p]
            if lq_size and gt_size:
                problems += _size_problems(gt_path, gt_size, min_side)
                if tuple(g // scale for g in gt_size) != lq_size:
                    problems.append(
                        f"paired images disagree: LQ {lq_path} is {lq_size[0]}x{lq_size[1]} and "
                        f"GT {gt_path} is {gt_size[0]}x{gt_size[1]}, but the scale is {scale} "
                        f"(GT must be scale x LQ, up to scale - 1 extra rows/columns)"
                    )
        return problems
    if isinstance(source, ImageFiles):
        for path in source.paths:
            problem, size = file_problem(path)
            problems += [problem] if problem else _size_problems(path, size, min_side)
    return problems


def _size_problems(path: Path, size: tuple[int, int] | None, min_side: int | None) -> list[str]:
    if size is None or min_side is None or min(size) >= min_side:
        return []
    return [
        f"image {path} is {size[0]}x{size[1]} pixels, smaller than the training patch "
        f"{min_side}x{min_side} (data.patch_size x scale); remove it or lower data.patch_size"
    ]


def check_datamodule_inputs(datamodule: Any, stages: Iterable[str] = ("fit", "test")) -> int:
    """Resolve and probe every image of the datamodule's sets of ``stages`` ("fit": training
    and validation, "test": test); returns the number of files checked. Raises ``ValueError``
    listing every problem."""
    stages = tuple(stages)
    for stage in stages:
        datamodule.setup(stage)
    checks: list[tuple[str, Any, int | None]] = []
    if "fit" in stages and datamodule.train_set is not None:
        min_side = datamodule.patch_size * datamodule.train_set.scale
        checks.append(("training", datamodule.train_set.source, min_side))
    for stage, names, sets in (
        (
            "validation",
            datamodule.val_set_names,
            datamodule.val_datasets if "fit" in stages else (),
        ),
        ("test", datamodule.test_set_names, datamodule.test_datasets if "test" in stages else ()),
    ):
        if not sets:
            continue
        checks += [(f"{stage} set {n}", d.source, None) for n, d in zip(names, sets, strict=True)]
    problems: list[str] = []
    checked = 0
    seen: set[int] = set()
    for what, source, min_side in checks:
        if id(source) in seen:
            continue
        seen.add(id(source))
        scale = int(datamodule.degradation.scale)
        found = source_problems(source, min_side=min_side, scale=scale)
        checked += len(source) * (2 if isinstance(source, PairedFolders) else 1)
        problems += [f"{what}: {p}" for p in found]
    if problems:
        raise ValueError(_report(problems, checked))
    return checked


def _report(problems: Iterable[str], checked: int) -> str:
    problems = list(problems)
    shown = "\n  ".join(problems[:SHOWN_PROBLEMS])
    more = (
        f"\n  ... and {len(problems) - SHOWN_PROBLEMS} more"
        if len(problems) > SHOWN_PROBLEMS
        else ""
    )
    return (
        f"{len(problems)} problem(s) among the {checked} input images, found before any "
        f"training or evaluation (fix or remove these files):\n  {shown}{more}"
    )


__all__ = ["check_datamodule_inputs", "file_problem", "source_problems"]
