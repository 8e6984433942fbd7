"""Where the time of one pyramid attention call goes: a torch-profiler breakdown.

Usage::

    python benchmarks/attention_profile.py                     # fast, 16x64x48x48 fwd+bwd
    python benchmarks/attention_profile.py --impl faithful --size 82 --batch 1 --forward

One warm-up call, then one profiled call of ``PyramidAttention(64, reduction 2, 5 levels)``;
prints the operators' self CPU time (the top ``--rows``) grouped into matmuls, the native
kernels / autograd Functions' own time, and the rest, with the 1-minute load average.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch.profiler import ProfilerActivity, profile

from panet.attention import PyramidAttention

MATMULS = (
    "aten::bmm",
    "aten::baddbmm",
    "aten::baddbmm_",
    "aten::mm",
    "aten::addmm",
    "aten::matmul",
    "aten::convolution",
    "aten::mkldnn_convolution",
    "aten::_convolution",
    "aten::slow_conv_transpose2d",
    "aten::conv_transpose2d",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", default="fast")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--forward", action="store_true", help="forward only (no_grad)")
    parser.add_argument("--rows", type=int, default=14)
    args = parser.parse_args()
    torch.manual_seed(0)
    module = PyramidAttention(channels=64, reduction=2, levels=5, impl=args.impl)
    x = torch.randn(args.batch, 64, args.size, args.size)

    def call() -> None:
        if args.forward:
            with torch.no_grad():
                module(x)
        else:
            module.zero_grad(set_to_none=True)
            module(x.clone().requires_grad_()).sum().backward()

    call()
    load = os.getloadavg()[0]
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        call()
    wall = time.perf_counter() - start
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) / 1e6
    groups = {"matmuls": 0.0, "autograd Functions / native kernels (own time)": 0.0, "rest": 0.0}
    for e in events:
        seconds = e.self_cpu_time_total / 1e6
        if e.key in MATMULS:
            groups["matmuls"] += seconds
        elif not e.key.startswith("aten::"):
            groups["autograd Functions / native kernels (own time)"] += seconds
        else:
            groups["rest"] += seconds
    pass_name = "fwd" if args.forward else "fwd+bwd"
    print(
        f"{args.impl} {args.batch}x64x{args.size}x{args.size} {pass_name}: wall {wall:.3f} s "
        f"under the profiler, {torch.get_num_threads()} threads, 1-min load {load:.2f}"
    )
    for name, seconds in groups.items():
        print(f"  {name}: {seconds:.3f} s ({100 * seconds / max(total, 1e-9):.0f} %)")
    print(events.table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
