"""Restore your own images with a checkpoint: ``python -m panet.cli.restore``.

Examples::

    # our checkpoint (records its architecture), a folder of noisy photos
    python -m panet.cli.restore --ckpt runs/dn30/model.pt --task denoise \\
        --inputs photos/ --out restored/
    # the authors' released SR weights, ×2, with the paper's chop and ×8 self-ensemble
    python -m panet.cli.restore --ckpt PA_EDSR_x2.pt --arch pa_edsr --arch-arg scale=2 \\
        --task sr --inputs small.png --out big/ --mode chop --self-ensemble

Each input image is written as ``OUT/<name>.png`` (clamped and rounded to 8 bits). Tasks:

* ``denoise``: RGB or grey noisy images (a grey image through a colour network is replicated to
  3 channels and the output averaged back to grey).
* ``demosaic``: 3-channel Bayer mosaics with the missing samples set to 0 (what
  ``data.degradations.BayerMosaic`` produces).
* ``car`` (JPEG artifact removal): the networks work on luma. RGB inputs are converted to the
  Y channel (MATLAB ``rgb2ycbcr``, rounded to 8 bits as in the benchmark protocol); the output
  is that restored Y channel, written as a grey PNG. Grey inputs are used as they are.
* ``sr``: images are upscaled by the network's scale.

Photos are read upright: a file whose EXIF Orientation tag says it is stored sideways or
mirrored (phones do this) is turned as photo viewers show it, restored so and written upright
(said once per image); the written PNG carries no orientation tag.

Unreadable files and files with several frames (animated GIF, multi-page TIFF) are reported and
skipped; the exit status is 1 when any file failed, 2 for bad options (reported once, with the
usage, before anything is read) or checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import Tensor

from panet.checkpoints.official import OFFICIAL_ARCHITECTURES
from panet.cli.network_options import add_network_options, load_network
from panet.imaging.color import rgb_to_y_uint8
from panet.imaging.io import ORIENTATIONS, is_image_file, read_image_upright, write_png
from panet.inference.restoration import MODES, Inference
from panet.tasks import AUTHORS_CHOP_MIN_SIZE, TASKS, check_network_fits_task


def collect_inputs(inputs: Sequence[str | Path]) -> tuple[list[Path], list[str]]:
    """Image files named directly or found (non-recursively, sorted) in the given folders.

    Returns the files and the problems found (missing paths, folders without images). Files
    named directly are kept whatever their extension, so a bad one is reported when read.
    """
    files: list[Path] = []
    problems: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and is_image_file(p))
            if not found:
                problems.append(f"{path}: folder contains no image files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(f"{path}: no such file or folder")
    return files, problems


def output_paths(files: Sequence[Path], out_dir: Path) -> list[Path]:
    """``out_dir/<stem>.png`` per file; refuses name clashes and overwriting an input."""
    outputs = [out_dir / f"{f.stem}.png" for f in files]
    seen: dict[Path, Path] = {}
    for source, target in zip(files, outputs, strict=True):
        if target in seen:
            raise ValueError(
                f"{seen[target]} and {source} would both be written to {target}; restore them "
                "into different --out folders"
            )
        if target.resolve() == source.resolve():
            raise ValueError(f"writing {target} would overwrite the input; choose another --out")
        seen[target] = source
    return outputs


def prepare_input(img: Tensor, task: str) -> Tensor:
    """The network input ``[C, H, W]`` 0–255 for one image read from disk (see module doc)."""
    if task == "car" and img.shape[0] == 3:
        return rgb_to_y_uint8(img)
    if task == "demosaic" and img.shape[0] != 3:
        raise ValueError(
            "demosaic expects a 3-channel mosaic with missing samples set to 0; got a "
            f"{img.shape[0]}-channel image"
        )
    return img


def orientation_note(source: Path, orientation: int, upright: Tensor) -> str:
    """The one line saying that ``source`` was turned upright by its EXIF orientation."""
    height, width = upright.shape[-2:]
    return (
        f"{source}: EXIF orientation {orientation} ({ORIENTATIONS[orientation]}): restored "
        f"and written upright, {width}x{height}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m panet.cli.restore",
        description="Restore images with a PANet-Lab or official checkpoint and write PNGs.",
    )
    add_network_options(parser, OFFICIAL_ARCHITECTURES)
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--inputs", required=True, nargs="+", help="image files and/or folders")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="tiles",
        help="tiles: fast, seam-free (default); chop: the authors' evaluation; full: whole image",
    )
    parser.add_argument("--self-ensemble", action="store_true", help="×8 self-ensemble ('+')")
    parser.add_argument("--shave", type=int, default=10, help="chop overlap (input pixels)")
    parser.add_argument(
        "--min-size",
        type=int,
        default=None,
        help="chop piece-area threshold (default: the authors' value for the task)",
    )
    parser.add_argument("--tile", type=int, default=128, help="tile side (input pixels)")
    parser.add_argument("--overlap", type=int, default=16, help="tile overlap (input pixels)")
    parser.add_argument("--batch-size", type=int, default=4, help="tiles per network call")
    return parser


def option_problems(args: argparse.Namespace) -> list[str]:
    """What is wrong with the numeric options (checked once, before any checkpoint or image)."""
    problems = []
    if args.mode == "tiles":
        if args.tile < 1:
            problems.append(f"--tile must be >= 1 (input pixels), got {args.tile}")
        if args.batch_size < 1:
            problems.append(f"--batch-size must be >= 1, got {args.batch_size}")
        if not 0 <= args.overlap < max(args.tile, 1):
            problems.append(
                f"--overlap must be >= 0 and smaller than --tile ({args.tile}), got {args.overlap}"
            )
    if args.mode == "chop":
        if args.shave < 0:
            problems.append(f"--shave must be >= 0, got {args.shave}")
        if args.min_size is not None and args.min_size < 1:
            problems.append(f"--min-size must be >= 1, got {args.min_size}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    problems = option_problems(args)
    if problems:
        parser.error("; ".join(problems))  # usage + message on stderr, exit status 2
    console = Console(stderr=True)
    try:
        net, _ = load_network(args)
        check_network_fits_task(net, args.task)
        inference = Inference(
            mode=args.mode,
            self_ensemble=args.self_ensemble,
            shave=args.shave,
            min_size=AUTHORS_CHOP_MIN_SIZE[args.task] if args.min_size is None else args.min_size,
            tile=args.tile,
            overlap=args.overlap,
            batch_size=args.batch_size,
        )
        files, problems = collect_inputs(args.inputs)
        outputs = output_paths(files, args.out)
    except (OSError, ValueError) as error:
        console.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        return 2
    for problem in problems:
        console.print(f"skipped {problem}", style="red", markup=False, highlight=False)

    failures = len(problems)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        job = progress.add_task("restoring", total=len(files))
        for source, target in zip(files, outputs, strict=True):
            progress.update(job, description=f"restoring {source.name}")
            try:
                image, orientation = read_image_upright(source)
                if orientation != 1:
                    progress.console.print(
                        orientation_note(source, orientation, image),
                        markup=False,
                        highlight=False,
                        soft_wrap=True,
                    )
                lq = prepare_input(image, args.task)
                restored = inference(net, lq[None])
                write_png(restored[0], target)
            except (OSError, ValueError, RuntimeError) as error:
                failures += 1
                progress.console.print(
                    f"failed {source}: {error}", style="red", markup=False, highlight=False
                )
            progress.advance(job)
        progress.update(job, description="restored")
    written = len(files) - (failures - len(problems))
    console.print(f"wrote {written} image(s) to {args.out}; {failures} failure(s)", markup=False)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
