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
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

from data.sources import ImageFolder
from data.workers import resolve_num_workers
from panet.atomic import atomic_write
from panet.imaging.io import read_image_uint8

Box = tuple[int, int, int, int]  # top, left, height, width


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
    out.mkdir(parents=True, exist_ok=True)
    window_starts(size, size, step)  # validates size and step before any work
    if image_format not in FORMATS:
        raise ValueError(f"image_format must be one of {FORMATS}; got {image_format!r}")
    processes = max(1, resolve_num_workers(workers) + 1)  # no training loop to leave a CPU for
    args = [(p, out, size, step, compress_level, image_format) for p in folder.paths]
    if processes == 1:
        return sum(cut_image(*a) for a in args)
    with ProcessPoolExecutor(processes) as pool:
        return sum(pool.map(cut_image, *zip(*args, strict=True)))


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
