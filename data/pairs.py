"""Degraded/clean pairs laid out as the public deblurring, deraining and denoising sets ship.

Two layouts are recognised (``discover_pairs``):

* **input/target** — ``<set>/input/`` beside ``<set>/target/``, the layout of MPRNet's
  prepared GoPro (train/test), HIDE, Rain13K, Rain100L/H, Test100/1200/2800 and SIDD patches.
  Files pair by stem when both folders hold the same stems; otherwise, when both hold the
  same number of images, by sorted file name, which is how the official loaders and MATLAB
  evaluation scripts pair them (some rain sets name inputs and targets differently).
* **blur/sharp sequences** — GoPro's original release: ``<set>/<sequence>/blur/`` and
  ``<set>/<sequence>/sharp/`` per recorded sequence (``blur_gamma/`` is ignored), or one
  sequence folder itself. Frames pair by stem within a sequence; their names are
  ``<sequence>_<stem>`` because frame numbers repeat across sequences.

A folder matching neither gives one line naming both layouts. ``PairedFiles`` has the
interface of ``data.sources.PairedFolders`` (``names``, ``load_pair``, ``paths``, ``label``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from panet.imaging.io import is_image_file, read_image, read_image_uint8

INPUT_DIR, TARGET_DIR = "input", "target"
BLUR_DIR, SHARP_DIR = "blur", "sharp"


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


def _pair_folders(lq_dir: Path, gt_dir: Path) -> tuple[list[Path], list[Path], list[str]]:
    """Pairs of two folders: by stem when the stems agree, else by sorted name (equal counts)."""
    lq, gt = _images(lq_dir), _images(gt_dir)
    lq_by_stem = {p.stem: p for p in lq}
    gt_stems = [p.stem for p in gt]
    if len(lq_by_stem) == len(lq) and set(lq_by_stem) == set(gt_stems):
        return [lq_by_stem[s] for s in gt_stems], gt, gt_stems
    if len(lq) == len(gt):
        return lq, gt, gt_stems
    raise ValueError(
        f"{lq_dir} holds {len(lq)} images and {gt_dir} holds {len(gt)}; pairs need the same "
        f"file names, or at least the same number of files (paired in sorted order)"
    )


def _has(folder: Path, *names: str) -> bool:
    return all((folder / n).is_dir() for n in names)


def layout_problem(folder: Path) -> str:
    """The one-line message for a folder that matches no paired layout."""
    return (
        f"{folder} matches no paired layout: expected {folder}/{INPUT_DIR}/ beside "
        f"{folder}/{TARGET_DIR}/ (GoPro, HIDE, Rain13K, Rain100L/H, Test100/1200/2800, SIDD as "
        f"MPRNet ships them) or GoPro's original {folder}/<sequence>/{BLUR_DIR}/ + "
        f"{SHARP_DIR}/ folders"
    )


def discover_pairs(folder: str | os.PathLike[str]) -> PairedFiles:
    """The pairs of ``folder`` in whichever layout it has (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"paired set folder not found: {folder}")
    if _has(folder, INPUT_DIR, TARGET_DIR):
        lq, gt, names = _pair_folders(folder / INPUT_DIR, folder / TARGET_DIR)
        return PairedFiles(lq, gt, names, label=f"{folder} ({INPUT_DIR}/ + {TARGET_DIR}/)")
    if _has(folder, BLUR_DIR, SHARP_DIR):
        lq, gt, names = _pair_folders(folder / BLUR_DIR, folder / SHARP_DIR)
        return PairedFiles(lq, gt, names, label=f"{folder} ({BLUR_DIR}/ + {SHARP_DIR}/)")
    sequences = sorted(p for p in folder.iterdir() if p.is_dir() and _has(p, BLUR_DIR, SHARP_DIR))
    if not sequences:
        raise ValueError(layout_problem(folder))
    all_lq: list[Path] = []
    all_gt: list[Path] = []
    all_names: list[str] = []
    for sequence in sequences:
        lq, gt, names = _pair_folders(sequence / BLUR_DIR, sequence / SHARP_DIR)
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
    if _has(folder, INPUT_DIR, TARGET_DIR) or _has(folder, BLUR_DIR, SHARP_DIR):
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
    "paired_set",
]
