"""Cut a folder of large training images into overlapping sub-images, once.

    python -m data.prepare_subimages datasets/DIV2K/DIV2K_train_HR datasets/DIV2K/train_sub480
    python train.py data=div2k data.train_source=datasets/DIV2K/train_sub480

A training sample then decodes a 480 x 480 PNG instead of a whole 2K image (the idea of
BasicSR's `extract_subimages`, written anew here). Windows of `size` pixels step by `step` along
each axis, and a last window aligned to the far edge covers the remainder, so every pixel is
in at least one sub-image; an axis shorter than `size` is one window of its own length.
Each sub-image is named `{stem}_y{top}_x{left}.png` (or `.bmp`), so it says where it came from.
`--format bmp` stores pixels uncompressed: about twice PNG's disk space, several times faster to
decode (benchmarks/data.py measures both).

The sub-images overlap (by size - step), so pixels near window borders are drawn slightly less
often than with whole images, as in the training recipes that use them.

The output folder records how it was cut (``prepare_subimages.json``: source folder, its image
names, size, step, format; written before the first sub-image, marked complete after the
last). Rerunning the same command repeats or completes the cut; a folder cut with other
settings, or one the command did not make, is refused naming the difference, so two cuts never
mix in one folder. Training on a folder whose cut never completed is refused too
(``subimage_folder_problem``, used by the input probe of ``data.validation``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image

from data.sources import ImageFolder
from data.workers import resolve_num_workers
from panet.atomic import atomic_write, write_text_atomic
from panet.imaging.io import read_image_uint8

Box = tuple[int, int, int, int]  # top, left, height, width

#: The record of a cut, in the output folder.
MANIFEST = "prepare_subimages.json"
MANIFEST_TOOL = "python -m data.prepare_subimages"
#: The settings that decide which pixels land in which file (compression does not).
SETTINGS: tuple[str, ...] = ("source", "source images", "size", "step", "format")


def window_starts(length: int, size: int, step: int) -> list[int]:
    """Start offsets of `size` windows stepping by `step` and covering [0, length)."""
    if size < 1 or step < 1:
        raise ValueError(f"size and step must be positive; got size={size}, step={step}")
    if length <= size:
        return [0]
    starts = list(range(0, length - size + 1, step))
    if starts[-1] + size < length:
        starts.append(length - size)
    return starts


def subimage_boxes(height: int, width: int, size: int, step: int) -> list[Box]:
    """The (top, left, h, w) windows of an image, row by row."""
    h, w = min(size, height), min(size, width)
    return [
        (top, left, h, w)
        for top in window_starts(height, size, step)
        for left in window_starts(width, size, step)
    ]


def subimage_name(stem: str, box: Box) -> str:
    return f"{stem}_y{box[0]:04d}_x{box[1]:04d}"


FORMATS: tuple[str, ...] = ("png", "bmp")


def cut_image(
    path: Path, out_dir: Path, size: int, step: int, compress_level: int, image_format: str = "png"
) -> int:
    """Write the sub-images of one image file; returns how many."""
    image = read_image_uint8(path)
    boxes = subimage_boxes(image.shape[-2], image.shape[-1], size, step)
    for box in boxes:
        top, left, h, w = box
        array = image[:, top : top + h, left : left + w].permute(1, 2, 0).numpy()
        picture = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
        name = f"{subimage_name(path.stem, box)}.{image_format}"
        with atomic_write(out_dir / name) as handle:
            if image_format == "png":
                picture.save(handle, format="PNG", compress_level=compress_level)
            else:
                picture.save(handle, format="BMP")
    return len(boxes)


def cut_settings(folder: ImageFolder, size: int, step: int, image_format: str) -> dict[str, Any]:
    """What a cut of ``folder`` is (``SETTINGS``), as recorded in the manifest."""
    return {
        "source": str(folder.root.resolve()),
        "source images": sorted(p.name for p in folder.paths),
        "size": size,
        "step": step,
        "format": image_format,
    }


def _read_manifest(out: Path) -> dict[str, Any] | None:
    path = out / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is unreadable ({error}); delete {out} to cut again") from None
    if not isinstance(manifest, dict) or manifest.get("tool") != MANIFEST_TOOL:
        raise ValueError(f"{path} was not written by {MANIFEST_TOOL}; delete {out} to cut again")
    return manifest


def _describe(setting: str, value: Any) -> str:
    if setting == "source images":
        return f"{len(value)} images"
    return str(value)


def _setting_changes(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    changes = []
    for setting in SETTINGS:
        before, after = saved.get(setting), now[setting]
        if before == after:
            continue
        if setting == "source images" and isinstance(before, list):
            added = sorted(set(after) - set(before))
            removed = sorted(set(before) - set(after))
            detail = "; ".join(
                f"{what} {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
                for what, names in (("new:", added), ("gone:", removed))
                if names
            )
            changes.append(f"source images {len(before)} (then) -> {len(after)} (now: {detail})")
            continue
        changes.append(
            f"{setting} {_describe(setting, before)} (then) -> {_describe(setting, after)} (now)"
        )
    return changes


def claim_output_folder(out: Path, settings: dict[str, Any]) -> None:
    """Make ``out`` this cut's folder, or refuse (``ValueError``) when it holds another cut or
    files the command did not write. The manifest is written (incomplete) before any image."""
    manifest = _read_manifest(out) if out.is_dir() else None
    if manifest is not None:
        changes = _setting_changes(manifest.get("settings", {}), settings)
        if changes:
            raise ValueError(
                f"{out} holds sub-images cut with other settings: {'; '.join(changes)}. Cut "
                f"into a new folder, or delete {out} to cut it again (two cuts in one folder "
                f"would train on both)"
            )
    elif out.is_dir():
        present = [p for p in out.iterdir() if not p.name.startswith(".")]
        if present:
            raise ValueError(
                f"{out} holds {len(present)} file(s) (e.g. {present[0].name}) and was not made "
                f"by {MANIFEST_TOOL} (no {MANIFEST}); write the sub-images into a new or empty "
                f"folder"
            )
    _write_manifest(out, settings, complete=False)


def _write_manifest(
    out: Path, settings: dict[str, Any], *, complete: bool, count: int | None = None
) -> None:
    record = {"tool": MANIFEST_TOOL, "settings": settings, "complete": complete}
    if count is not None:
        record["count"] = count
    write_text_atomic(out / MANIFEST, json.dumps(record, indent=1) + "\n")


def subimage_folder_problem(folder: str | os.PathLike[str]) -> str | None:
    """Why training on ``folder`` would be wrong, when it is an unfinished cut (else None)."""
    try:
        manifest = _read_manifest(Path(folder))
    except ValueError as error:
        return str(error)
    if manifest is None or manifest.get("complete"):
        return None
    return (
        f"{folder} is a sub-image cut that never finished ({MANIFEST} is not marked complete): "
        f"rerun the {MANIFEST_TOOL} command that made it"
    )


def prepare_subimages(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    size: int = 480,
    step: int = 240,
    workers: int | str = "auto",
    compress_level: int = 6,
    image_format: str = "png",
) -> int:
    """Cut every image of the folder `source` into `out_dir`; returns the sub-image count."""
    folder = ImageFolder(source)
    out = Path(out_dir)
    if out.resolve() == folder.root.resolve():
        raise ValueError("write the sub-images into another folder than the source images")
    window_starts(size, size, step)  # validates size and step before any work
    if image_format not in FORMATS:
        raise ValueError(f"image_format must be one of {FORMATS}; got {image_format!r}")
    settings = cut_settings(folder, size, step, image_format)
    claim_output_folder(out, settings)  # before any image is written
    processes = max(1, resolve_num_workers(workers) + 1)  # no training loop to leave a CPU for
    args = [(p, out, size, step, compress_level, image_format) for p in folder.paths]
    if processes == 1:
        count = sum(cut_image(*a) for a in args)
    else:
        with ProcessPoolExecutor(processes) as pool:
            count = sum(pool.map(cut_image, *zip(*args, strict=True)))
    _write_manifest(out, settings, complete=True, count=count)
    return count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m data.prepare_subimages",
        description="Cut large training images into overlapping sub-images (PNG), once.",
    )
    parser.add_argument("source", help="folder of training images (e.g. DIV2K_train_HR)")
    parser.add_argument("out", help="output folder for the sub-images")
    parser.add_argument("--size", type=int, default=480, help="sub-image side (pixels)")
    parser.add_argument("--step", type=int, default=240, help="stride between windows")
    parser.add_argument("--workers", default="auto", help="processes (auto: this job's CPUs)")
    parser.add_argument("--compress-level", type=int, default=6, help="PNG zlib level 0-9")
    parser.add_argument("--format", choices=FORMATS, default="png", help="sub-image file type")
    args = parser.parse_args(argv)
    workers = args.workers if args.workers == "auto" else int(args.workers)
    try:
        count = prepare_subimages(
            args.source,
            args.out,
            size=args.size,
            step=args.step,
            workers=workers,
            compress_level=args.compress_level,
            image_format=args.format,
        )
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {count} sub-images to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
