"""Peak memory of one pyramid-attention forward on a whole input, against the input's size: the
memory model of ``impl="auto"`` (``panet.attention.tiling``) measured.

    python benchmarks/attention_memory.py                       # 64 .. 256 px, default budget
    python benchmarks/attention_memory.py --sizes 64,96,128,160 --budget-mb 256
    python benchmarks/attention_memory.py --root ../old-checkout --impl fast   # another version

Each size runs in a fresh subprocess: the full ``PyramidAttention`` module (64 channels,
reduction 2, 5 levels, k 3, random weights) on one ``1 x 64 x n x n`` input without autograd,
after a small warm-up call; peak = the rise of the process's peak resident set during the call
(``getrusage``) above the resident size before it. The table gives the score map the authors'
algorithm would hold (``n^2 x keys x 4`` bytes) beside it. ``--root`` imports ``panet`` from
another checkout (e.g. an earlier commit, to measure "before"), which may not know
``memory_budget_mb``: it is then not passed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

_WORKER = """
import inspect, json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
import torch
from panet.attention import PyramidAttention

size, impl, budget, threads = int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
torch.set_num_threads(threads)
torch.manual_seed(0)
options = dict(channels=64, reduction=2, levels=5, impl=impl)
if budget != "none" and "memory_budget_mb" in inspect.signature(PyramidAttention).parameters:
    options["memory_budget_mb"] = float(budget)
module = PyramidAttention(**options)
with torch.no_grad():
    module(torch.randn(1, 64, 16, 16))
    x = torch.randn(1, 64, size, size)
    with open("/proc/self/statm") as handle:
        before = int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024
    start = time.perf_counter()
    module(x)
    seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_mib": max(0.0, peak - before) / 1024, "seconds": seconds}))
"""


def score_map_mib(size: int) -> float:
    """The faithful algorithm's ``[M, H, W]`` float32 score map for one n x n input."""
    keys = sum(math.floor(size * (1 - i / 10)) ** 2 for i in range(5))
    return size * size * keys * 4 / 2**20


def measure(root: Path, size: int, impl: str, budget: str, threads: int) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _WORKER, str(root), str(size), impl, budget, str(threads)],
        capture_output=True,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS=str(threads)),
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["failed"])[-1]
        return {"error": last[:120]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="64,96,128,160,256")
    parser.add_argument("--impl", default="auto")
    parser.add_argument("--budget-mb", default="none", help="memory_budget_mb (default: none)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append((size, measure(args.root, size, args.impl, args.budget_mb, args.threads)))
        print(f"measured {size}", file=sys.stderr, flush=True)
    print(
        f"PyramidAttention(64, 5 levels) forward, impl={args.impl}, budget={args.budget_mb}, "
        f"{args.threads} threads, panet from {args.root}, load {load_before:.2f}/"
        f"{os.getloadavg()[0]:.2f}"
    )
    print("| input | score map (MiB) | peak rise (MiB) | seconds |")
    print("|---|---|---|---|")
    for size, result in rows:
        if "error" in result:
            print(f"| 1x64x{size}x{size} | {score_map_mib(size):,.0f} | {result['error']} | |")
        else:
            print(
                f"| 1x64x{size}x{size} | {score_map_mib(size):,.0f} | {result['peak_mib']:,.0f} "
                f"| {result['seconds']:.2f} |"
            )


if __name__ == "__main__":
    main()
