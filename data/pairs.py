"""Degraded/clean pairs laid out as the public deblurring, deraining and denoising sets ship.

Two layouts are recognised (``discover_pairs``):

* **input/target** — ``<set>/input/`` beside ``<set>/target/`` (or ``<set>/groundtruth/``,
  what the official SIDD patch script writes), the layout of MPRNet's prepared GoPro
  (train/test), HIDE, Rain13K, Rain100L/H, Test100/1200/2800 and SIDD patches.
* **blur/sharp sequences** — GoPro's original release: ``<set>/<sequence>/blur/`` and
  ``<set>/<sequence>/sharp/`` per recorded sequence (``blur_gamma/`` is ignored), or one
  sequence folder itself. Frame names are ``<sequence>_<stem>`` because frame numbers repeat
  across sequences.

Every two folders are paired by one rule, ``pair_folders`` (also used for
``data.train_lq_source`` + ``data.train_source`` and meant for any other tool that pairs
folders): by file name (stem, any extension); in sorted name order only when *no* name matches
at all and the counts agree (the rain sets' ``rain-N``/``norain-N``, paired so by the official
loaders and MATLAB scripts), which is said once per pair of folders; anything between -- some
names match, some do not -- is refused naming the unmatched files, because pairing it in sorted
order would silently put wrong images together.

A folder matching no layout gives one line naming both layouts. ``PairedFiles`` has the
interface of ``data.sources.PairedFolders`` (``names``, ``load_pair``, ``paths``, ``label``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from panet.imaging.io import is_image_file, read_image, read_image_uint8

INPUT_DIR, TARGET_DIR = "input", "target"
#: Folders that hold the clean images beside ``input/`` (SIDD's patch script: groundtruth/).
TARGET_DIRS: tuple[str, ...] = (TARGET_DIR, "groundtruth")
BLUR_DIR, SHARP_DIR = "blur", "sharp"
#: At most this many unmatched files are named per folder; the count says how many there are.
SHOWN_UNMATCHED = 8


class PairedFiles:
    """Explicit (lq file, gt file, name) pairs; decoded on every ``load_pair``.

    Args:
        lq_paths, gt_paths: the degraded and clean file of each pair, in order.
        names: unique sample names (what results and evaluation seeds are keyed by).
        label: what the pairs are, for messages.
    """

    def __init__(
        self,
        lq_paths: Sequence[Path],
        gt_paths: Sequence[Path],
        names: Sequence[str],
        *,
        label: str,
    ) -> None:
        if not len(lq_paths) == len(gt_paths) == len(names):
            raise ValueError(
                f"{label}: {len(lq_paths)} degraded files, {len(gt_paths)} clean files and "
                f"{len(names)} names; every pair needs one of each"
            )
        if not names:
            raise ValueError(f"no image pairs in {label}")
        if len(set(names)) != len(names):
            raise ValueError(f"{label} gives several pairs the same name; names must be unique")
        self.lq_paths = tuple(Path(p) for p in lq_paths)
        self.gt_paths = tuple(Path(p) for p in gt_paths)
        self.names: tuple[str, ...] = tuple(names)
        self.label = label

    def __len__(self) -> int:
        return len(self.names)

    def load_pair(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(lq, gt) of pair ``index``, each float32 [C, H, W], 0–255."""
        return read_image(self.lq_paths[index]), read_image(self.gt_paths[index])

    def load_pair_uint8(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(lq, gt) of pair ``index`` as uint8 [C, H, W] (training converts only the patch)."""
        return read_image_uint8(self.lq_paths[index]), read_image_uint8(self.gt_paths[index])

    def paths(self, index: int) -> tuple[Path, Path]:
        """(lq file, gt file) of pair ``index``, for error messages."""
        return self.lq_paths[index], self.gt_paths[index]


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))


#: Pairs of folders already said to be paired in sorted order (said once per process).
_ANNOUNCED_SORTED: set[tuple[Path, Path]] = set()


def pair_folders(
    lq_dir: str | os.PathLike[str], gt_dir: str | os.PathLike[str]
) -> tuple[list[Path], list[Path], list[str]]:
    """The one pairing rule: ``(lq files, gt files, names)`` of two folders of images.

    By file name (stem; extensions may differ) when every name is in both folders; in sorted
    name order when no name is in both and the counts agree (said once per pair of folders, on
    stderr); otherwise a ``ValueError`` naming the unmatched files of each folder. Names are
    the clean files' stems, in sorted order. Two files with one stem in a folder are refused.
    """
    lq_dir, gt_dir = Path(lq_dir), Path(gt_dir)
    for folder in (lq_dir, gt_dir):
        if not folder.is_dir():
            raise FileNotFoundError(f"paired image folder not found: {folder}")
    lq, gt = _images(lq_dir), _images(gt_dir)
    for folder, files in ((lq_dir, lq), (gt_dir, gt)):
        if not files:
            raise ValueError(
                f"no images in {folder}: expected files ending in .png, .jpg, .jpeg, .bmp, "
                f".tif or .tiff directly inside it"
            )
    lq_by_stem, gt_by_stem = _by_stem(lq, lq_dir), _by_stem(gt, gt_dir)
    common = set(lq_by_stem) & set(gt_by_stem)
    if common and common == set(lq_by_stem) == set(gt_by_stem):
        names = sorted(common)
        return [lq_by_stem[n] for n in names], [gt_by_stem[n] for n in names], names
    if common:
        raise ValueError(
            f"{lq_dir} and {gt_dir} pair by file name, but only {len(common)} name(s) are in "
            f"both: only in {lq_dir.name}/: "
            f"{_preview([lq_by_stem[n] for n in sorted(set(lq_by_stem) - common)])}; only in "
            f"{gt_dir.name}/: "
            f"{_preview([gt_by_stem[n] for n in sorted(set(gt_by_stem) - common)])}. Rename "
            f"or remove the unmatched files (pairing the rest in sorted order would put wrong "
            f"images together)"
        )
    if len(lq) != len(gt):
        raise ValueError(
            f"{lq_dir} ({len(lq)} images) and {gt_dir} ({len(gt)} images) have no file name "
            f"in common, so they could only pair in sorted order, which needs the same number "
            f"of images on both sides ({len(lq)} vs {len(gt)}): give the pairs the same file "
            f"names, or remove the images without a partner"
        )
    _announce_sorted(lq_dir, gt_dir, lq, gt)
    return lq, gt, [p.stem for p in gt]


def _by_stem(files: list[Path], folder: Path) -> dict[str, Path]:
    by_stem: dict[str, list[Path]] = {}
    for path in files:
        by_stem.setdefault(path.stem, []).append(path)
    clashes = [paths for paths in by_stem.values() if len(paths) > 1]
    if clashes:
        shown = "; ".join(" and ".join(p.name for p in paths) for paths in clashes[:4])
        raise ValueError(
            f"{folder} holds several images with one name: {shown}; pairs are matched by "
            f"name, so keep one file per name"
        )
    return {stem: paths[0] for stem, paths in by_stem.items()}


def _preview(paths: Sequence[Path]) -> str:
    shown = ", ".join(p.name for p in paths[:SHOWN_UNMATCHED])
    more = len(paths) - SHOWN_UNMATCHED
    return f"{shown}{f' and {more} more' if more > 0 else ''}" if paths else "(none)"


def _announce_sorted(lq_dir: Path, gt_dir: Path, lq: list[Path], gt: list[Path]) -> None:
    key = (lq_dir.resolve(), gt_dir.resolve())
    if key in _ANNOUNCED_SORTED:
        return
    _ANNOUNCED_SORTED.add(key)
    print(
        f"note: {lq_dir} and {gt_dir} have no file name in common; their {len(lq)} images are "
        f"paired in sorted order ({lq[0].name} with {gt[0].name}, ..., {lq[-1].name} with "
        f"{gt[-1].name}), as the official loaders do",
        file=sys.stderr,
    )


def _has(folder: Path, *names: str) -> bool:
    return all((folder / n).is_dir() for n in names)


def _target_dir(folder: Path) -> Path | None:
    """The clean-image folder beside ``folder/input/`` (None without one); two is ambiguous."""
    if not (folder / INPUT_DIR).is_dir():
        return None
    found = [folder / name for name in TARGET_DIRS if (folder / name).is_dir()]
    if len(found) > 1:
        raise ValueError(
            f"{folder} holds both {' and '.join(f'{p}/' for p in found)}: it is not clear which "
            f"holds the clean images; keep one of them"
        )
    return found[0] if found else None


def layout_problem(folder: Path) -> str:
    """The one-line message for a folder that matches no paired layout."""
    return (
        f"{folder} matches no paired layout: expected {folder}/{INPUT_DIR}/ beside "
        f"{folder}/{TARGET_DIR}/ or {TARGET_DIRS[1]}/ (GoPro, HIDE, Rain13K, Rain100L/H, "
        f"Test100/1200/2800, SIDD as MPRNet ships them) or GoPro's original "
        f"{folder}/<sequence>/{BLUR_DIR}/ + {SHARP_DIR}/ folders"
    )


def discover_pairs(folder: str | os.PathLike[str]) -> PairedFiles:
    """The pairs of ``folder`` in whichever layout it has (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"paired set folder not found: {folder}")
    target = _target_dir(folder)
    if target is not None:
        lq, gt, names = pair_folders(folder / INPUT_DIR, target)
        return PairedFiles(lq, gt, names, label=f"{folder} ({INPUT_DIR}/ + {target.name}/)")
    if _has(folder, BLUR_DIR, SHARP_DIR):
        lq, gt, names = pair_folders(folder / BLUR_DIR, folder / SHARP_DIR)
        return PairedFiles(lq, gt, names, label=f"{folder} ({BLUR_DIR}/ + {SHARP_DIR}/)")
    sequences = sorted(p for p in folder.iterdir() if p.is_dir() and _has(p, BLUR_DIR, SHARP_DIR))
    if not sequences:
        raise ValueError(layout_problem(folder))
    all_lq: list[Path] = []
    all_gt: list[Path] = []
    all_names: list[str] = []
    for sequence in sequences:
        lq, gt, names = pair_folders(sequence / BLUR_DIR, sequence / SHARP_DIR)
        all_lq += lq
        all_gt += gt
        all_names += [f"{sequence.name}_{n}" for n in names]
    label = f"{folder} ({len(sequences)} sequences of {BLUR_DIR}/ + {SHARP_DIR}/)"
    return PairedFiles(all_lq, all_gt, all_names, label=label)


def has_paired_layout(folder: str | os.PathLike[str]) -> bool:
    """True when ``discover_pairs(folder)`` would find one of the layouts (files not checked)."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    if any(_has(folder, INPUT_DIR, t) for t in TARGET_DIRS) or _has(folder, BLUR_DIR, SHARP_DIR):
        return True
    return any(p.is_dir() and _has(p, BLUR_DIR, SHARP_DIR) for p in folder.iterdir())


def paired_set(name: str, root: str | os.PathLike[str]) -> PairedFiles:
    """Benchmark set ``name`` under ``root`` as pairs: ``root/name``, or ``root/name/test``
    when only that has a layout (MPRNet's ``Datasets/GoPro/test``, ``Datasets/HIDE/test``)."""
    root = Path(root)
    folder = root / name
    if not folder.is_dir():
        available = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        raise ValueError(
            f"unknown paired set {name!r}: no folder {folder}. Sets under {root}: "
            f"{', '.join(available) or '(none)'}"
        )
    if not has_paired_layout(folder) and has_paired_layout(folder / "test"):
        folder = folder / "test"
    return discover_pairs(folder)


__all__ = [
    "PairedFiles",
    "discover_pairs",
    "has_paired_layout",
    "layout_problem",
    "pair_folders",
    "paired_set",
]
