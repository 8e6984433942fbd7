"""Time and memory of pyramid attention: ``impl="faithful"`` (the authors' algorithm) against
``impl="fast"`` (the exact reformulation), on the full ``panet.attention.PyramidAttention``
module (pyramid, embeddings, attention, residual) with random weights and inputs.

Usage::

    python benchmarks/attention.py                 # full table (several minutes)
    python benchmarks/attention.py --quick         # small shapes, for a smoke run
    python benchmarks/attention.py --repeats 5 --threads 2

Cases: the training shape (batch 16, 64 channels, 48x48, 5 levels, k = 3) forward and
forward+backward, and the inference tiles 1x64x82x82 and 1x64x128x128 forward.

How it measures. Every (case, implementation) runs in a fresh Python subprocess, so that one
measurement cannot inherit the other's allocator caches or memory high-water mark:

- time: one warm-up call (which also compiles the fast path's native kernels), then
  ``--repeats`` timed calls; the median wall-clock time is reported. Forward runs under
  ``torch.no_grad()`` (inference); forward+backward computes ``out.sum().backward()``, i.e.
  gradients for the input and every parameter.
- peak memory: the first call's rise of the process's peak resident set size
  (``getrusage(RUSAGE_SELF).ru_maxrss``, which does see PyTorch's CPU allocations, unlike
  tracemalloc) above the resident size just before it (``/proc/self/statm``), with inputs and
  weights already allocated. It is the extra memory the call needs at its peak (activations
  kept for backward, score maps, workspaces), measured on the first call, before any allocator
  reuse could hide it. Resolution is a page; the setup before the call needs far less.

Timings on a shared machine vary with its load: run it on a quiet machine and compare the
ratios. The table is printed once, in Markdown, after all cases ran.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

IMPLS = ("faithful", "fast")


@dataclass(frozen=True)
class Case:
    """One benchmark shape: input [batch, channels, size, size] and the pass to measure."""

    batch: int
    channels: int
    size: int
    backward: bool

    @property
    def label(self) -> str:
        return f"{self.batch}x{self.channels}x{self.size}x{self.size}"

    @property
    def pass_name(self) -> str:
        return "fwd+bwd" if self.backward else "fwd"


FULL_CASES = (
    Case(16, 64, 48, False),
    Case(16, 64, 48, True),
    Case(1, 64, 82, False),
    Case(1, 64, 128, False),
)
QUICK_CASES = (
    Case(2, 64, 48, False),
    Case(2, 64, 48, True),
    Case(1, 64, 64, False),
)


def _rss_kib() -> int:
    """Current resident set size of this process in KiB."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def measure(case: Case, impl: str, repeats: int, threads: int) -> dict:
    """Run one case in this process; returns median seconds and peak extra MiB."""
    import torch

    from panet.attention import PyramidAttention

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    module = PyramidAttention(channels=case.channels, reduction=2, levels=5, impl=impl)
    x = torch.randn(case.batch, case.channels, case.size, case.size)

    def call() -> None:
        if case.backward:
            module.zero_grad(set_to_none=True)
            xi = x.clone().requires_grad_()
            module(xi).sum().backward()
        else:
            with torch.no_grad():
                module(x)

    if impl == "fast":  # build the native kernels outside the measured call
        from panet.attention_fast import _native_library

        _native_library()
    before = _rss_kib()
    call()
    peak_mib = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "peak_mib": peak_mib}


def run_in_subprocess(case: Case, impl: str, repeats: int, threads: int) -> dict:
    """``measure`` in a fresh interpreter (clean allocator and high-water mark)."""
    payload = json.dumps(
        {"case": asdict(case), "impl": impl, "repeats": repeats, "threads": threads}
    )
    result = subprocess.run(
        [sys.executable, __file__, "--worker", payload],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def format_table(rows: list[tuple[Case, dict, dict]]) -> str:
    """Markdown table of the measurements."""
    lines = [
        "| shape | pass | faithful time (s) | fast time (s) | speed-up | faithful peak (MiB) "
        "| fast peak (MiB) | memory ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case, slow, fast in rows:
        speed = slow["seconds"] / fast["seconds"]
        memory = fast["peak_mib"] / slow["peak_mib"] if slow["peak_mib"] > 0 else float("nan")
        lines.append(
            f"| {case.label} | {case.pass_name} | {slow['seconds']:.3f} | {fast['seconds']:.3f} "
            f"| {speed:.2f}x | {slow['peak_mib']:.0f} | {fast['peak_mib']:.0f} "
            f"| {memory:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per case (median)")
    parser.add_argument("--quick", action="store_true", help="small shapes for a smoke run")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's default, the core count)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        job = json.loads(args.worker)
        print(json.dumps(measure(Case(**job["case"]), job["impl"], job["repeats"], job["threads"])))
        return
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.threads is None:
        import torch

        args.threads = torch.get_num_threads()
    cases = QUICK_CASES if args.quick else FULL_CASES
    load_before = os.getloadavg()[0]
    rows = []
    for case in cases:
        results = {
            impl: run_in_subprocess(case, impl, args.repeats, args.threads) for impl in IMPLS
        }
        rows.append((case, results["faithful"], results["fast"]))
        print(f"measured {case.label} {case.pass_name}", file=sys.stderr, flush=True)
    print(
        f"PyramidAttention(64, reduction 2, 5 levels, k 3), {args.threads} threads, "
        f"median of {args.repeats}, "
        f"1-min load average before/after: {load_before:.2f}/{os.getloadavg()[0]:.2f}"
    )
    print(format_table(rows))


if __name__ == "__main__":
    main()
