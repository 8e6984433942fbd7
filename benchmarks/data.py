"""Does the data pipeline keep up with the training step it feeds? Batches per second of one
worker for every source mode and degradation, next to PANet's CPU training step rate.

Usage::

    python benchmarks/data.py                  # 4 synthesized DIV2K-sized images (minutes)
    python benchmarks/data.py --quick          # 2 images, few batches, a small network step
    python benchmarks/data.py --images 8 --batches 40 --steps 3

What it measures, all in this one run:

- Images: ``--images`` synthesized RGB photographs of DIV2K's size (2040 x 1356; smooth
  random shapes plus fine noise, so PNG compresses them about as much as real photographs)
  written as PNG (zlib level 6, as DIV2K's files) into a temporary folder.
- Source modes: ``folder`` (every sample decodes a whole PNG: the uncached default),
  ``cache`` (the shared uint8 memory map, ``data.cache.MappedImages``; its one-time build is
  timed) and ``subimages-png`` / ``subimages-bmp`` (480 x 480 crops, step 240, cut once by
  ``data.prepare_subimages``, whose runs are timed; every sample decodes one small file).
- Degradations: the four tasks' training degradations at the paper's patch size 48 (LQ):
  denoise (Gaussian sigma 30), demosaic (Bayer), car (JPEG q 10, on the Y channel) and
  sr (bicubic x4, GT patch 192).
- One worker: batches of 16 samples built in this process with one torch thread (what a
  DataLoader worker gets), through the real ``TrainPatches`` and ``default_collate``; one
  warm-up batch, then ``--batches`` timed batches; the median time per batch is reported as
  batches/s. A loader with N workers delivers about N times this.
- The step it feeds: PANet (R = 80, 64 features, 5 levels, the fast attention) forward +
  L1 + backward + Adam on a 16 x 3 x 48 x 48 batch, on the CPU with all threads; one warm-up
  step, then the median of ``--steps``. ``--quick`` uses R = 4 instead (a smoke run only).

Targets (issue 13): from the cache or sub-images one worker delivers >= 20 batches/s for
denoising, and >= 10x the CPU training step rate for every degradation. The table marks each
row. Timings depend on the machine's load, printed before and after: on a shared machine
compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter
from torch.utils.data import default_collate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.cache import MappedImages  # noqa: E402
from data.datasets import TrainPatches  # noqa: E402
from data.degradations import JPEG, BayerMosaic, BicubicDown, GaussianNoise  # noqa: E402
from data.prepare_subimages import prepare_subimages  # noqa: E402
from data.sources import ImageFolder  # noqa: E402

DIV2K_SIZE = (1356, 2040)  # height, width
BATCH, PATCH = 16, 48
DENOISE_TARGET_BATCHES_PER_S = 20.0
STEP_RATE_FACTOR = 10.0
#: task -> (degradation, colour)
DEGRADATIONS = {
    "denoise": (GaussianNoise(30.0), "rgb"),
    "demosaic": (BayerMosaic(), "rgb"),
    "car": (JPEG(10), "y"),
    "sr": (BicubicDown(4), "rgb"),
}


def load_average() -> str:
    """The 1/5/15-minute load averages and the CPUs this process may use."""
    one, five, fifteen = os.getloadavg()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {cpus} CPUs"


def synthesize_photo(seed: int, size: tuple[int, int] = DIV2K_SIZE) -> Image.Image:
    """A photograph-like RGB image: blurred random shapes over a gradient, plus grain."""
    rng = np.random.default_rng(seed)
    height, width = size
    ramp = np.linspace(0, 1, width)[None, :, None] * rng.uniform(40, 120, 3)
    base = np.broadcast_to(ramp + rng.uniform(40, 120, 3), (height, width, 3))
    picture = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for _ in range(60):
        x, y = rng.integers(0, width), rng.integers(0, height)
        r = int(rng.integers(20, 300))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    picture = picture.filter(ImageFilter.GaussianBlur(3))
    grain = rng.normal(0, 3, (height, width, 3))
    return Image.fromarray((np.asarray(picture) + grain).clip(0, 255).astype(np.uint8))


def write_images(folder: Path, count: int) -> float:
    """Write `count` synthesized photographs; returns their mean file size in MB."""
    folder.mkdir(parents=True)
    for i in range(count):
        synthesize_photo(i).save(folder / f"{i + 1:04d}.png", compress_level=6)
    return statistics.mean(p.stat().st_size for p in folder.iterdir()) / 1e6


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def batches_per_second(dataset: TrainPatches, batches: int) -> float:
    """One worker's rate: median time of building a collated batch of BATCH samples."""

    def batch(number: int) -> None:
        first = number * BATCH
        default_collate([dataset[i] for i in range(first, first + BATCH)])

    batch(0)  # warm-up (opens files, maps the cache)
    times = [timed(lambda n=n: batch(n)) for n in range(1, batches + 1)]
    return 1.0 / statistics.median(times)


def panet_step_rate(steps: int, n_resblocks: int, threads: int) -> float:
    """Training steps per second of PANet on a BATCH x 3 x 48 x 48 batch, on the CPU."""
    from panet.models.registry import build_network

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = build_network("panet", n_colors=3, n_feats=64, n_resblocks=n_resblocks, levels=5)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    lq, gt = torch.rand(BATCH, 3, PATCH, PATCH), torch.rand(BATCH, 3, PATCH, PATCH)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.l1_loss(net(lq), gt).backward()
        optimizer.step()

    step()
    return 1.0 / statistics.median(timed(step) for _ in range(steps))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=4, help="synthesized 2040x1356 images")
    parser.add_argument("--batches", type=int, default=20, help="timed batches per row")
    parser.add_argument(
        "--folder-batches", type=int, default=4, help="timed batches of the slow folder mode"
    )
    parser.add_argument("--steps", type=int, default=2, help="timed PANet training steps")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for the step")
    parser.add_argument("--quick", action="store_true", help="2 images, few batches, R = 4")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.batches, args.folder_batches, args.steps = 2, 4, 1, 1
    n_resblocks = 4 if args.quick else 80
    threads = args.threads or torch.get_num_threads()
    print(f"start: {load_average()}; torch {torch.__version__}")

    with tempfile.TemporaryDirectory(prefix="panet-data-bench-") as tmp:
        root = Path(tmp)
        megabytes = write_images(root / "hr", args.images)
        folder = ImageFolder(root / "hr")
        torch.set_num_threads(1)  # a DataLoader worker's setting
        build_s = timed(lambda: MappedImages.build(folder, root / "cache"))
        cached = MappedImages.build(folder, root / "cache")
        sources = {"folder": folder, "cache": cached}
        print(
            f"{args.images} images {DIV2K_SIZE[1]}x{DIV2K_SIZE[0]} (PNG, {megabytes:.1f} MB "
            f"each); cache build {build_s:.1f} s"
        )
        for image_format in ("png", "bmp"):
            out = root / f"sub_{image_format}"
            cut_s = timed(
                lambda out=out, f=image_format: prepare_subimages(
                    root / "hr", out, workers=0, image_format=f
                )
            )
            sources[f"subimages-{image_format}"] = ImageFolder(out)
            size = statistics.mean(p.stat().st_size for p in out.iterdir()) / 1e3
            print(
                f"sub-images ({image_format}): {len(sources[f'subimages-{image_format}'])} "
                f"files of {size:.0f} kB, cut in {cut_s:.1f} s"
            )

        rates: dict[tuple[str, str], float] = {}
        for mode, source in sources.items():
            for task, (degradation, colour) in DEGRADATIONS.items():
                dataset = TrainPatches(
                    source,
                    degradation=degradation,
                    patch_size=PATCH,
                    samples_per_epoch=10**6,
                    seed=0,
                    colour=colour,
                )
                count = args.folder_batches if mode == "folder" else args.batches
                rates[mode, task] = batches_per_second(dataset, count)

        step_rate = panet_step_rate(args.steps, n_resblocks, threads)

    print(
        f"\nPANet R={n_resblocks} training step on the CPU ({threads} threads), batch "
        f"{BATCH} x 48^2: {step_rate:.4f} steps/s ({1 / step_rate:.2f} s/step)\n"
    )
    print("| source | task (degradation) | batches/s, 1 worker | ms/batch | x step rate | target |")
    print("|---|---|---:|---:|---:|---|")
    for (mode, task), rate in rates.items():
        ratio = rate / step_rate
        if mode == "folder":
            verdict = "(reference)"
        else:
            ok = ratio >= STEP_RATE_FACTOR and (
                task != "denoise" or rate >= DENOISE_TARGET_BATCHES_PER_S
            )
            verdict = "met" if ok else "MISSED"
        print(f"| {mode} | {task} | {rate:.1f} | {1000 / rate:.1f} | {ratio:,.0f} | {verdict} |")
    print(
        f"\ntargets: >= {DENOISE_TARGET_BATCHES_PER_S:.0f} batches/s (denoise, cache or "
        f"sub-images) and >= {STEP_RATE_FACTOR:.0f}x the CPU step rate for every degradation"
    )
    print(f"end: {load_average()}")


if __name__ == "__main__":
    main()
