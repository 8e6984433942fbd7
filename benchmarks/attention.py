"""Time and memory of pyramid attention: ``impl="faithful"`` (the authors' algorithm) against
the exact reformulations (``fast``; ``compiled``, the dense form under ``torch.compile``), on the
full ``panet.attention.PyramidAttention`` module (pyramid, embeddings, attention, residual) with
random weights and inputs.

Usage::

    python benchmarks/attention.py                 # full table (several minutes)
    python benchmarks/attention.py --quick         # small shapes, for a smoke run
    python benchmarks/attention.py --repeats 5 --threads 2
    python benchmarks/attention.py --in-process    # all in one process, alternately
    python benchmarks/attention.py --device cuda   # the same table on a GPU (faithful, fast,
                                                   # compiled); --impls picks the columns

On CUDA every call is followed by ``torch.cuda.synchronize()`` and peak memory is the
allocator's (``torch.cuda.max_memory_allocated`` above the memory in use before the call).

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

#: Implementations timed by default per device (faithful first: the reference of the ratios).
DEFAULT_IMPLS = {"cpu": ("faithful", "fast"), "cuda": ("faithful", "fast", "compiled")}


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


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def make_call(case: Case, impl: str, threads: int, device: str = "cpu"):
    """A function running one call of ``case`` on a seeded module (same weights and input for
    every ``impl``), with the fast path's native kernels already built."""
    import torch

    from panet.attention import PyramidAttention

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    module = PyramidAttention(channels=case.channels, reduction=2, levels=5, impl=impl)
    x = torch.randn(case.batch, case.channels, case.size, case.size)
    module, x = module.to(device), x.to(device)

    def call() -> None:
        if case.backward:
            module.zero_grad(set_to_none=True)
            xi = x.clone().requires_grad_()
            module(xi).sum().backward()
        else:
            with torch.no_grad():
                module(x)
        _sync(device)

    if impl == "fast" and device == "cpu":  # build the native kernels outside the measured calls
        from panet.attention.native import native_library

        native_library()
    return call


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _peak_of_first_call(call, impl: str, device: str) -> float | None:
    """Extra MiB the call needs at its peak (see the module docstring); None where it cannot
    be told apart from compilation (``compiled`` on CPU: the compiler's own memory)."""
    if device == "cuda":
        import torch

        if impl == "compiled":
            call()  # compile first; the allocator's statistics then see one clean call
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        call()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    before = _rss_kib()
    call()
    if impl == "compiled":
        return None
    return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024


def measure(case: Case, impl: str, repeats: int, threads: int, device: str = "cpu") -> dict:
    """Run one case in this process; returns median seconds and peak extra MiB."""
    call = make_call(case, impl, threads, device)
    peak_mib = _peak_of_first_call(call, impl, device)
    times = [_timed(call) for _ in range(repeats)]
    return {"seconds": statistics.median(times), "peak_mib": peak_mib}


def measure_alternately(
    case: Case, impls: tuple[str, ...], repeats: int, threads: int, device: str
) -> tuple[dict[str, dict], dict[str, float]]:
    """All implementations in this process, timed back to back in every round (order rotating
    between rounds); returns their results (median seconds, no peak memory) and each one's
    median within-round speed-up over the first (faithful)."""
    calls = {impl: make_call(case, impl, threads, device) for impl in impls}
    for call in calls.values():
        call()  # warm-up: allocator, thread pool, caches, compilation
    times: dict[str, list[float]] = {impl: [] for impl in impls}
    for round_index in range(repeats):
        shift = round_index % len(impls)
        for impl in (impls[shift:] + impls[:shift])[:: 1 if round_index % 2 == 0 else -1]:
            times[impl].append(_timed(calls[impl]))
    reference = times[impls[0]]
    results = {i: {"seconds": statistics.median(times[i]), "peak_mib": None} for i in impls}
    speedups = {
        i: statistics.median(r / t for r, t in zip(reference, times[i], strict=True)) for i in impls
    }
    return results, speedups


def run_in_subprocess(case: Case, impl: str, repeats: int, threads: int, device: str) -> dict:
    """``measure`` in a fresh interpreter (clean allocator and high-water mark)."""
    payload = json.dumps(
        {
            "case": asdict(case),
            "impl": impl,
            "repeats": repeats,
            "threads": threads,
            "device": device,
        }
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


Row = tuple[Case, str, dict, dict, "float | None"]


def format_table(rows: list[Row]) -> str:
    """Markdown table of the measurements, one row per (case, implementation other than the
    reference); a row's speed-up is the ratio of the median times unless given (in-process
    mode: the median within-round ratio)."""
    lines = [
        "| shape | pass | impl | faithful time (s) | impl time (s) | speed-up "
        "| faithful peak (MiB) | impl peak (MiB) | memory ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for case, impl, slow, fast, speed in rows:
        if speed is None:
            speed = slow["seconds"] / fast["seconds"]
        if slow["peak_mib"] is None or fast["peak_mib"] is None:
            memory = "n/a"
        else:
            memory = f"{fast['peak_mib'] / slow['peak_mib']:.2f}" if slow["peak_mib"] else "nan"
        lines.append(
            f"| {case.label} | {case.pass_name} | {impl} | {slow['seconds']:.3f} "
            f"| {fast['seconds']:.3f} | {speed:.2f}x | {_mib(slow['peak_mib'])} "
            f"| {_mib(fast['peak_mib'])} | {memory} |"
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
        help="time all implementations alternately in this process (no peak memory)",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--impls",
        default=None,
        help="comma-separated implementations after faithful (default: fast on cpu; "
        "fast,compiled on cuda)",
    )
    parser.add_argument(
        "--cases",
        default=None,
        help="comma-separated subset of the cases as shape:pass, e.g. "
        "16x64x48x48:fwd+bwd,1x64x82x82:fwd (default: all)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        job = json.loads(args.worker)
        result = measure(
            Case(**job["case"]), job["impl"], job["repeats"], job["threads"], job["device"]
        )
        print(json.dumps(result))
        return
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: this torch build sees no CUDA device")
    if args.threads is None:
        args.threads = torch.get_num_threads()
    impls = DEFAULT_IMPLS[args.device]
    if args.impls:
        impls = ("faithful", *(i for i in args.impls.split(",") if i and i != "faithful"))
    cases = QUICK_CASES if args.quick else FULL_CASES
    if args.cases:
        wanted = set(args.cases.split(","))
        unknown = wanted - {f"{c.label}:{c.pass_name}" for c in cases}
        if unknown:
            parser.error(
                f"--cases: unknown {sorted(unknown)}; known: "
                + ", ".join(f"{c.label}:{c.pass_name}" for c in cases)
            )
        cases = tuple(c for c in cases if f"{c.label}:{c.pass_name}" in wanted)
    load_before = os.getloadavg()[0]
    rows: list[Row] = []
    for case in cases:
        if args.in_process:
            results, speedups = measure_alternately(
                case, impls, args.repeats, args.threads, args.device
            )
        else:
            results = {
                impl: run_in_subprocess(case, impl, args.repeats, args.threads, args.device)
                for impl in impls
            }
            speedups = {impl: None for impl in impls}
        for impl in impls[1:]:
            rows.append((case, impl, results["faithful"], results[impl], speedups[impl]))
        print(f"measured {case.label} {case.pass_name}", file=sys.stderr, flush=True)
    mode = "in one process, alternately" if args.in_process else "one subprocess per run"
    where = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(
        f"PyramidAttention(64, reduction 2, 5 levels, k 3) on {where}, {args.threads} threads, "
        f"median of {args.repeats}, {mode}, "
        f"1-min load average before/after: {load_before:.2f}/{os.getloadavg()[0]:.2f}"
    )
    print(format_table(rows))


if __name__ == "__main__":
    main()
