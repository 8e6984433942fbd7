"""Every input image checked at set-up, before the first training step, evaluation image or
cache build.

A corrupt file among hundreds used to surface only when a sample drew it (a crash at step 120,
again after resume), at the test after all training steps, or after several evaluation images
were scored. ``check_datamodule_inputs`` takes every source of a ``RestorationDataModule`` as
files (training -- a folder, the embedded photographs, paired layouts, ``train_lq_source`` --
and every validation and test set, whole or paired), before anything is decoded or cached, and
probes each file's header with the one prober (``panet.imaging.io.probe_image_info``). It checks
what the loaders and the scoring would refuse later:

* each file: unreadable, truncated, more than 8 bits, an unsupported colour mode, several
  frames, a transparent alpha channel;
* a pair: the degraded size times the scale must be the clean size (up to scale - 1 extra
  rows/columns), and both must have the same channels (grey input beside an RGB target);
* training images: at least one patch (``data.patch_size`` x scale), plus the margin of a
  degradation with a spatial support (motion blur) on every side;
* evaluation images (or their crops): large enough for the scoring protocol -- after cropping
  to a multiple of the scale and losing a blur margin, at least ``Protocol.min_side`` (twice
  the shave plus the SSIM window);
* a sub-image folder whose cut never finished (``data.prepare_subimages``).

All problems are reported together, in one ``ValueError`` naming each file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data.prepare_subimages import subimage_folder_problem
from panet.evaluation.protocols import Protocol
from panet.imaging.io import ImageInfo, probe_image_info

#: At most this many problems are listed; the count says how many there are.
SHOWN_PROBLEMS = 10


@dataclass(frozen=True)
class Needs:
    """What a set's images must allow besides being readable.

    Args:
        scale: clean size / degraded size (the task's scale).
        train_side: the smallest clean side of a training image (None: not a training set).
        eval_side: the smallest side the scoring protocol takes, after ``crop`` (None: not
            scored).
        margin: pixels a synthesized degradation loses at every border of a whole image.
        crop: evaluation crops of this side are taken from each image (None: whole images).
    """

    scale: int = 1
    train_side: int | None = None
    eval_side: int | None = None
    margin: int = 0
    crop: int | None = None


def file_problem(path: Path) -> tuple[str | None, ImageInfo | None]:
    """(problem, None) for an unusable file, else (None, what the file holds)."""
    try:
        return None, probe_image_info(path)
    except (ValueError, FileNotFoundError) as error:
        return str(error), None


def is_paired(source: Any) -> bool:
    """Whether a source holds stored (degraded, clean) pairs."""
    return hasattr(source, "load_pair")


def source_files(source: Any) -> int:
    """How many files a source reads."""
    return len(source) * (2 if is_paired(source) else 1)


def source_problems(source: Any, needs: Needs) -> list[str]:
    """Problems of every file of a source (``ImageFiles``, ``PairedFiles``, ...)."""
    problems: list[str] = []
    root = getattr(source, "root", None)
    if root is not None:
        unfinished = subimage_folder_problem(root)
        problems += [unfinished] if unfinished else []
    if is_paired(source):
        for index in range(len(source)):
            problems += _pair_problems(*source.paths(index), needs)
        return problems
    for path in source.paths:
        problem, info = file_problem(path)
        if problem:
            problems.append(problem)
            continue
        assert info is not None
        if needs.train_side is not None:
            problems += _train_size_problems(path, info, needs.train_side + 2 * needs.margin)
        problems += _eval_size_problems(path, info, needs, margin=needs.margin)
    return problems


def _pair_problems(lq_path: Path, gt_path: Path, needs: Needs) -> list[str]:
    lq_problem, lq = file_problem(lq_path)
    gt_problem, gt = file_problem(gt_path)
    problems = [p for p in (lq_problem, gt_problem) if p]
    if lq is None or gt is None:
        return problems
    s = needs.scale
    if (gt.height // s, gt.width // s) != (lq.height, lq.width):
        problems.append(
            f"paired images disagree: LQ {lq_path} is {lq.height}x{lq.width} and GT {gt_path} "
            f"is {gt.height}x{gt.width}, but the scale is {s} (GT must be scale x LQ, up to "
            f"scale - 1 extra rows/columns)"
        )
    elif lq.channels != gt.channels:
        colours = {1: "grey (1 channel)", 3: "RGB (3 channels)"}
        problems.append(
            f"paired images disagree: LQ {lq_path} is {colours[lq.channels]} and GT {gt_path} "
            f"is {colours[gt.channels]}; give both the same number of channels"
        )
    else:
        if needs.train_side is not None:
            problems += _train_size_problems(gt_path, gt, needs.train_side)
        scored = ImageInfo(lq.height * s, lq.width * s, gt.channels)  # GT cropped to s x LQ
        problems += _eval_size_problems(gt_path, scored, needs, margin=0)
    return problems


def _train_size_problems(path: Path, info: ImageInfo, side: int) -> list[str]:
    if min(info.height, info.width) >= side:
        return []
    return [
        f"image {path} is {info.height}x{info.width} pixels, smaller than the training patch "
        f"{side}x{side} (data.patch_size x scale, plus the degradation's margin on each side); "
        f"remove it or lower data.patch_size"
    ]


def _eval_size_problems(path: Path, info: ImageInfo, needs: Needs, *, margin: int) -> list[str]:
    if needs.eval_side is None:
        return []
    scored = []
    for side in (info.height, info.width):
        if needs.crop is not None:
            side = min(side, needs.crop)
        else:
            side -= 2 * margin
        scored.append(max(0, side) // needs.scale * needs.scale)
    if min(scored) >= needs.eval_side:
        return []
    what = f"its {needs.crop} px crops are" if needs.crop is not None else "it is"
    return [
        f"image {path} is {info.height}x{info.width} pixels and {what} scored at "
        f"{scored[0]}x{scored[1]}: too small for the scoring protocol, which needs at least "
        f"{needs.eval_side}x{needs.eval_side} (twice the shave plus the SSIM window); remove it "
        f"from the set"
    ]


def check_datamodule_inputs(
    datamodule: Any, stages: Iterable[str] = ("fit", "test"), *, protocol: Protocol | None = None
) -> int:
    """Probe every image of the datamodule's sets of ``stages`` ("fit": training and
    validation, "test": test) before anything is decoded or cached; ``protocol``: the scoring
    protocol of the evaluation sets (None: their sizes are not checked). Returns the number of
    files checked; raises ``ValueError`` listing every problem."""
    stages = tuple(stages)
    scale = int(datamodule.degradation.scale)
    margin = int(getattr(datamodule.degradation, "margin", 0))
    eval_side = protocol.min_side if protocol is not None else None
    checks: list[tuple[str, Any, Needs]] = []
    if "fit" in stages:
        source = datamodule.train_files()
        train_side = datamodule.patch_size * scale
        needs = Needs(scale, train_side=train_side, margin=0 if is_paired(source) else margin)
        checks.append(("training", source, needs))
    for stage, names in (("validation", "val_set_names"), ("test", "test_set_names")):
        if (stage == "validation" and "fit" not in stages) or (
            stage == "test" and "test" not in stages
        ):
            continue
        for name in getattr(datamodule, names):
            source, crop = datamodule.eval_source(name)
            needs = Needs(scale, eval_side=eval_side, margin=margin, crop=crop)
            checks.append((f"{stage} set {name}", source, needs))
    problems: list[str] = []
    seen: set[tuple[int, Needs]] = set()
    for what, source, needs in checks:
        if (id(source), needs) in seen:  # e.g. one set for validation and test
            continue
        seen.add((id(source), needs))
        problems += [f"{what}: {p}" for p in source_problems(source, needs)]
    checked = sum({id(source): source_files(source) for _, source, _ in checks}.values())
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


__all__ = ["Needs", "check_datamodule_inputs", "file_problem", "source_problems"]
