"""Time and memory of pyramid attention: ``impl="faithful"`` (the authors' algorithm) against
``impl="fast"`` (the exact reformulation), on the full ``panet.attention.PyramidAttention``
module (pyramid, embeddings, attention, residual) with random weights and inputs.

Usage::

    python benchmarks/attention.py                 # full table (several minutes)
    python benchmarks/attention.py --quick         # small shapes, for a smoke run
    python benchmarks/attention.py --repeats 5 --threads 2
    python benchmarks/attention.py --in-process    # both in one process, alternately

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

With ``--in-process`` both implementations run in this one process instead, the way an
independent check would time the authors' module against ours: per case, one warm-up call
each, then ``--repeats`` rounds that time faithful and fast back to back (their order
alternating between rounds). The speed-up is then the median over rounds of the ratio within
a round, which a change of the machine's load between rounds does not bias. Peak memory is
not measured in this mode (one process's high-water mark cannot be attributed to either).

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


def make_call(case: Case, impl: str, threads: int):
    """A function running one call of ``case`` on a seeded module (same weights and input for
    every ``impl``), with the fast path's native kernels already built."""
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

    if impl == "fast":  # build the native kernels outside the measured calls
        from panet.attention.native import native_library

        native_library()
    return call


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure(case: Case, impl: str, repeats: int, threads: int) -> dict:
    """Run one case in this process; returns median seconds and peak extra MiB."""
    call = make_call(case, impl, threads)
    before = _rss_kib()
    call()
    peak_mib = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    times = [_timed(call) for _ in range(repeats)]
    return {"seconds": statistics.median(times), "peak_mib": peak_mib}


def measure_alternately(case: Case, repeats: int, threads: int) -> tuple[dict, dict, float]:
    """Both implementations in this process, timed back to back in every round; returns
    their results (median seconds, no peak memory) and the median within-round speed-up."""
    calls = {impl: make_call(case, impl, threads) for impl in IMPLS}
    for call in calls.values():
        call()  # warm-up: allocator, thread pool, caches
    times: dict[str, list[float]] = {impl: [] for impl in IMPLS}
    for round_index in range(repeats):
        order = IMPLS if round_index % 2 == 0 else IMPLS[::-1]
        for impl in order:
            times[impl].append(_timed(calls[impl]))
    ratios = [s / f for s, f in zip(times["faithful"], times["fast"], strict=True)]
    results = [{"seconds": statistics.median(times[i]), "peak_mib": None} for i in IMPLS]
    return results[0], results[1], statistics.median(ratios)


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


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def format_table(rows: list[tuple[Case, dict, dict, float | None]]) -> str:
    """Markdown table of the measurements; a row's speed-up is the ratio of the median times
    unless given (in-process mode: the median within-round ratio)."""
    lines = [
        "| shape | pass | faithful time (s) | fast time (s) | speed-up | faithful peak (MiB) "
        "| fast peak (MiB) | memory ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case, slow, fast, speed in rows:
        if speed is None:
            speed = slow["seconds"] / fast["seconds"]
        if slow["peak_mib"] is None or fast["peak_mib"] is None:
            memory = "n/a"
        else:
            memory = f"{fast['peak_mib'] / slow['peak_mib']:.2f}" if slow["peak_mib"] else "nan"
        lines.append(
            f"| {case.label} | {case.pass_name} | {slow['seconds']:.3f} | {fast['seconds']:.3f} "
            f"| {speed:.2f}x | {_mib(slow['peak_mib'])} | {_mib(fast['peak_mib'])} "
            f"| {memory} |"
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
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="time both implementations alternately in this process (no peak memory)",
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
        if args.in_process:
            rows.append((case, *measure_alternately(case, args.repeats, args.threads)))
        else:
            results = {
                impl: run_in_subprocess(case, impl, args.repeats, args.threads) for impl in IMPLS
            }
            rows.append((case, results["faithful"], results["fast"], None))
        print(f"measured {case.label} {case.pass_name}", file=sys.stderr, flush=True)
    mode = "in one process, alternately" if args.in_process else "one subprocess per run"
    print(
        f"PyramidAttention(64, reduction 2, 5 levels, k 3), {args.threads} threads, "
        f"median of {args.repeats}, {mode}, "
        f"1-min load average before/after: {load_before:.2f}/{os.getloadavg()[0]:.2f}"
    )
    print(format_table(rows))


if __name__ == "__main__":
    main()
