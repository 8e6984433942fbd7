"""Evaluating one Kodak24 image with PANet: how much of it the attention implementation decides.

Usage::

    python benchmarks/attention_inference.py                 # kodim01, PANet R = 8, sigma 50
    python benchmarks/attention_inference.py --image kodim05.png --repeats 3 --threads 2
    python benchmarks/attention_inference.py --crop 256      # a quicker smoke run

One noisy image (Gaussian, sigma 50/255, seeded) goes through a seeded PANet (64 features,
``--resblocks`` residual blocks, attention after block R/2) in three ways:

- ``chop + faithful``: the authors' evaluation procedure, their recursive four-quadrant chop
  (``panet.inference.chop``, min_size 6800, shave 10) around the authors' attention algorithm;
- ``chop + fast``: the same pieces through the exact fast attention, so the output must equal
  the first within 1e-5 (printed);
- ``tiles + fast``: our batched, cross-faded 128-pixel tiles (``panet.inference.tiles``, overlap
  16, 4 tiles per call): not the authors' procedure, so its output differs (PSNR printed).

Each is timed ``--repeats`` times after nothing but module construction (no warm-up beyond
the native kernels' build); medians and the ratios to ``chop + faithful`` are printed with the
machine's 1-minute load average. The image lives outside the repository
(``../shared/benchmarks/Kodak24`` from a checkout); the script stops with a clear message when
it is absent.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from panet.imaging.io import read_image
from panet.inference.chop import chop
from panet.inference.tiles import tiles
from panet.models.panet import PANet

KODAK = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "Kodak24"


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.clamp(0, 1) - b.clamp(0, 1)).square().mean().item()
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(1 / mse)).item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="kodim01.png")
    parser.add_argument("--folder", type=Path, default=KODAK)
    parser.add_argument("--resblocks", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--crop", type=int, default=None, help="top-left crop side (smoke run)")
    args = parser.parse_args()
    path = args.folder / args.image
    if not path.is_file():
        sys.exit(
            f"benchmark image {path} not found: run from a checkout beside shared/ "
            "(../shared/benchmarks/Kodak24) or pass --folder"
        )
    if args.threads:
        torch.set_num_threads(args.threads)
    clean = read_image(path)[None] / 255
    if args.crop:
        clean = clean[..., : args.crop, : args.crop]
    noisy = clean + torch.randn(clean.shape, generator=torch.Generator().manual_seed(0)) * 50 / 255

    torch.manual_seed(0)
    nets = {
        impl: PANet(n_resblocks=args.resblocks, attention_impl=impl).eval()
        for impl in ("faithful", "fast")
    }
    nets["fast"].load_state_dict(nets["faithful"].state_dict())
    from panet.attention.native import native_library

    native_library()
    runs = {
        "chop + faithful": lambda: chop(nets["faithful"], noisy, min_size=6800, shave=10),
        "chop + fast": lambda: chop(nets["fast"], noisy, min_size=6800, shave=10),
        "tiles + fast": lambda: tiles(nets["fast"], noisy, tile=128, overlap=16, batch_size=4),
    }
    load_before = os.getloadavg()[0]
    times: dict[str, list[float]] = {name: [] for name in runs}
    outputs: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for round_index in range(args.repeats):
            order = list(runs) if round_index % 2 == 0 else list(runs)[::-1]
            for name in order:
                start = time.perf_counter()
                outputs[name] = runs[name]()
                times[name].append(time.perf_counter() - start)
    reference = outputs["chop + faithful"]
    h, w = noisy.shape[-2:]
    print(
        f"{path.name} {h}x{w}, PANet R={args.resblocks}, {torch.get_num_threads()} threads, "
        f"median of {args.repeats}, 1-min load average before/after: "
        f"{load_before:.2f}/{os.getloadavg()[0]:.2f}"
    )
    print("| run | time (s) | speed-up | max abs diff to chop + faithful | PSNR to it (dB) |")
    print("|---|---|---|---|---|")
    base = statistics.median(times["chop + faithful"])
    for name in runs:
        seconds = statistics.median(times[name])
        diff = (outputs[name] - reference).abs().max().item()
        print(
            f"| {name} | {seconds:.2f} | {base / seconds:.2f}x | {diff:.2e} "
            f"| {_psnr(outputs[name], reference):.2f} |"
        )
    print(
        f"PSNR of chop + faithful to the clean image: {_psnr(reference, clean):.2f} dB "
        "(random weights: timing only)"
    )


if __name__ == "__main__":
    main()
