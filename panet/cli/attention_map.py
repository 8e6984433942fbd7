"""Where a network's attention looks, for query pixels of any image: ``python -m
panet.cli.attention_map`` (the authors' Fig. 8 for your own images and checkpoints).

Examples::

    # a train.py checkpoint; two query pixels (x,y) of a photo
    python -m panet.cli.attention_map --ckpt outputs/train/denoise/<run>/checkpoints/best.ckpt \\
        --image photo.png --points 120,80 300,200 --out attention/
    # the authors' PA-EDSR x2 weights, on a low-resolution image (the SR input)
    python -m panet.cli.attention_map --ckpt PA_EDSR_x2.pt --official-arch pa_edsr \\
        --arch-arg scale=2 --image small.png --points 40,30 --out attention/

For each query point it writes one PNG per pyramid level (CSNLN: one of its cross-scale keys)
with that level's attention weights spread over the image as a heat map (relative to the
level's largest weight, or on a log scale with ``--log``; more opaque where the weight is
larger; the query marked by a cyan cross, the strongest key by a white box; the parts of the
image the network did not see dimmed), ``<image>_sheet.png`` with every point and level side by
side and labelled with each level's share of the total weight, and ``<image>_attention.json``
with the numbers (feature cells, shares, the strongest key of every level in image pixels).
How image pixels map to the attention's feature grid: ``panet.inference.attention_maps``.

Exit status: 0 when the maps were written, 2 for bad options, points outside the image (all
listed at once), an unreadable image or checkpoint, or a network without attention.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from torch import Tensor, nn

from panet.atomic import write_text_atomic
from panet.cli.network_options import add_network_options, load_network
from panet.cli.restore import prepare_input
from panet.imaging.io import read_image
from panet.imaging.rendering import (
    draw_box,
    draw_cross,
    enlarge,
    hstack,
    labelled,
    overlay_weights,
    safe_file_stem,
    save_png,
    shrink_to,
    to_rgb_uint8,
    vstack,
)
from panet.inference.attention_maps import ModuleMaps, attention_at_points, check_points
from panet.models.registry import network_channels
from panet.tasks import TASKS, check_network_fits_task

#: The authors' architectures that have attention maps (MPRNet and EDSR have no attention).
ATTENTION_ARCHITECTURES: tuple[str, ...] = ("panet", "pa_edsr", "csnln")
#: Per-level pictures are enlarged by a whole factor until their longer side reaches this.
MIN_PICTURE_SIDE = 256
#: Tiles of the sheet are shrunk until their longer side is at most this.
MAX_SHEET_TILE = 320
#: ``--log``: colours span this many orders of magnitude below each level's largest weight.
LOG_DECADES = 3.0


def parse_point(text: str) -> tuple[int, int]:
    """``"x,y"`` -> ``(x, y)``, two integers (an argparse type)."""
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        return int(parts[0]), int(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a point is x,y in image pixels (two integers), got {text!r}"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m panet.cli.attention_map",
        description="Write the attention maps of query pixels of an image (PNG per level, a "
        "sheet, JSON).",
    )
    add_network_options(parser, ATTENTION_ARCHITECTURES)
    parser.add_argument("--image", required=True, type=Path, help="the network's input image")
    parser.add_argument(
        "--points",
        required=True,
        nargs="+",
        type=parse_point,
        metavar="X,Y",
        help="query pixels, column x and row y from the top-left corner (0-based)",
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--task",
        choices=TASKS,
        default=None,
        help="how the image is fed to the network (default: sr for upscaling networks, car "
        "for 1-channel ones, else denoise); car turns RGB into the Y channel",
    )
    parser.add_argument(
        "--crop",
        type=int,
        default=None,
        help="run the network on a CROP-pixel square around each point instead of the whole "
        "image (large images; or the piece the authors' chop would show)",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=0.8,
        help="heat-map opacity at a level's largest weight, in [0, 1] (it falls with the weight)",
    )
    parser.add_argument(
        "--log",
        action="store_true",
        help=f"colour by the log of the weight over {LOG_DECADES:g} decades (shows the tail of a "
        "peaked softmax)",
    )
    return parser


def option_problems(args: argparse.Namespace) -> list[str]:
    """What is wrong with the numeric options (checked before any file is read)."""
    problems = []
    if args.crop is not None and args.crop < 1:
        problems.append(f"--crop must be >= 1 pixel, got {args.crop}")
    if not 0.0 <= args.alpha <= 1.0:
        problems.append(f"--alpha must lie in [0, 1], got {args.alpha}")
    return problems


def default_task(net: nn.Module) -> str:
    """The task a network is most likely for: sr when it upscales, car for 1 channel."""
    if int(getattr(net, "scale", 1)) > 1:
        return "sr"
    return "car" if network_channels(net) == 1 else "denoise"


def level_title(maps: ModuleMaps, level: int) -> str:
    """``level 2 (scale 0.8)`` / ``cross-scale keys (1/2)``, for labels."""
    if maps.kind == "cross-scale":
        return f"cross-scale keys (1/{round(1 / maps.scales[level])})"
    return f"level {level} (scale {maps.scales[level]:g})"


def level_file_name(
    stem: str, point: tuple[int, int], maps: ModuleMaps, level: int, several: bool
) -> str:
    """``<stem>_x<X>_y<Y>[_<module>]_level<l>.png`` (``_crossscale`` for CSNLN)."""
    module = "_" + "".join(c if c.isalnum() else "_" for c in maps.module) if several else ""
    part = "crossscale" if maps.kind == "cross-scale" else f"level{level}"
    return f"{stem}_x{point[0]}_y{point[1]}{module}_{part}.png"


def marker_size(image_hw: Sequence[int], factor: int) -> int:
    """Half-size in pixels of the query cross and the peak box on an enlarged picture."""
    return max(3, 2 * factor, factor * max(image_hw) // 48)


def marked(
    picture: np.ndarray,
    point: tuple[int, int],
    factor: int,
    peak: tuple[int, int] | None = None,
) -> np.ndarray:
    """``picture`` enlarged ``factor`` times with a cyan cross on image pixel ``point`` and, when
    given, a white box around image pixel ``peak`` (a level's strongest key)."""
    big = enlarge(picture, factor)
    size = marker_size(picture.shape[:2], factor)
    if peak is not None:
        draw_box(big, peak[1] * factor + factor // 2, peak[0] * factor + factor // 2, size)
    draw_cross(big, point[1] * factor + factor // 2, point[0] * factor + factor // 2, arm=size)
    return big


def level_picture(
    image_rgb: np.ndarray, maps: ModuleMaps, level: int, alpha: float, log_scale: bool
) -> np.ndarray:
    """One level's weights over the image (at image resolution), not yet marked."""
    top, left, _, _ = maps.window
    decades = LOG_DECADES if log_scale else None
    return overlay_weights(image_rgb, maps.weights_on_input(level), top, left, alpha, decades)


def render_point(
    image_rgb: np.ndarray,
    point: tuple[int, int],
    modules: Sequence[ModuleMaps],
    args: argparse.Namespace,
    stem: str,
) -> tuple[list[Path], list[np.ndarray]]:
    """Write the per-level PNGs of one point; return them and its sheet rows."""
    factor = max(1, -(-MIN_PICTURE_SIDE // max(image_rgb.shape[:2])))
    several = len(modules) > 1
    written, rows = [], []
    for maps in modules:
        query = labelled(
            shrink_to(marked(image_rgb, point, factor), MAX_SHEET_TILE),
            f"x={point[0]} y={point[1]}" + (f" {maps.module}" if several else ""),
        )
        tiles = [query]
        for level, share in enumerate(maps.shares()):
            picture = level_picture(image_rgb, maps, level, args.alpha, args.log)
            picture = marked(picture, point, factor, maps.peak_xy(level))
            path = args.out / level_file_name(stem, point, maps, level, several)
            written.append(save_png(picture, path))
            title = f"{level_title(maps, level)}: {100 * share:.1f}%"
            tiles.append(labelled(shrink_to(picture, MAX_SHEET_TILE), title))
        rows.append(hstack(tiles))
    return written, rows


def point_record(point: tuple[int, int], modules: Sequence[ModuleMaps]) -> dict:
    """The JSON record of one query point."""
    return {
        "x": point[0],
        "y": point[1],
        "modules": [
            {
                "module": m.module,
                "kind": m.kind,
                "scales": list(m.scales),
                "window": dict(zip(("top", "left", "height", "width"), m.window, strict=True)),
                "input_size": list(m.input_hw),
                "feature_size": list(m.feature_hw),
                "feature_cell": list(m.feature_yx),
                "levels": [
                    {
                        "size": list(level_map.shape),
                        "share": share,
                        "peak_xy": list(m.peak_xy(level)),
                    }
                    for level, (level_map, share) in enumerate(zip(m.maps, m.shares(), strict=True))
                ],
            }
            for m in modules
        ],
    }


def write_outputs(
    image: Tensor,
    points: Sequence[tuple[int, int]],
    results: Sequence[Sequence[ModuleMaps]],
    args: argparse.Namespace,
) -> list[Path]:
    """Per-level PNGs, the sheet and the JSON record; returns the files written. ``image`` is
    the image as read (a CAR network's maps are drawn over the photo, not its Y channel)."""
    image_rgb = to_rgb_uint8(image)
    stem = safe_file_stem(args.image.name)
    written, rows = [], []
    for point, modules in zip(points, results, strict=True):
        files, point_rows = render_point(image_rgb, point, modules, args, stem)
        written += files
        rows += point_rows
    written.append(save_png(vstack(rows, gap=8), args.out / f"{stem}_sheet.png"))
    record = {
        "image": str(args.image),
        "checkpoint": str(args.ckpt),
        "official_arch": args.official_arch,
        "task": args.task,
        "crop": args.crop,
        "log_scale": args.log,
        "points": [point_record(p, m) for p, m in zip(points, results, strict=True)],
    }
    json_path = args.out / f"{stem}_attention.json"
    written.append(write_text_atomic(json_path, json.dumps(record, indent=2) + "\n"))
    return written


def summary_lines(points: Sequence[tuple[int, int]], results: Sequence[Sequence[ModuleMaps]]):
    """One line per point and module: each level's share and strongest key."""
    for point, modules in zip(points, results, strict=True):
        for maps in modules:
            levels = ", ".join(
                f"{level_title(maps, level)} {100 * share:.1f}% (peak at {maps.peak_xy(level)})"
                for level, share in enumerate(maps.shares())
            )
            yield f"x={point[0]} y={point[1]} {maps.module}: {levels}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    problems = option_problems(args)
    if problems:
        parser.error("; ".join(problems))  # usage + message on stderr, exit status 2
    console = Console(stderr=True, soft_wrap=True)  # long lines stay whole (logs, tests)
    points = list(args.points)
    try:
        image = read_image(args.image)
        check_points(points, image.shape[-2], image.shape[-1], str(args.image))
        net, device = load_network(args)
        args.task = args.task or default_task(net)
        check_network_fits_task(net, args.task)
        net_image = prepare_input(image, args.task)
        results = attention_at_points(net, net_image, points, args.crop, str(args.image))
    except (OSError, ValueError) as error:
        console.print(f"error: {error}", markup=False, highlight=False)
        return 2
    except RuntimeError as error:  # e.g. out of memory on a large image
        console.print(
            f"error: the network failed on {args.image}: {error}. For large images pass "
            "--crop 256 (or another size) to run it on a window around each point.",
            markup=False,
            highlight=False,
        )
        return 2
    for line in summary_lines(points, results):
        console.print(line, markup=False, highlight=False)
    written = write_outputs(image, points, results, args)
    console.print(
        f"wrote {len(written)} file(s) to {args.out} ({len(points)} point(s), task "
        f"{args.task}, device {device})",
        markup=False,
        highlight=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
