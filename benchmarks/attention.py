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
                                                   # triton); --impls picks the columns
    python benchmarks/attention.py --contended     # each case quiet, then beside a busy thread
    python benchmarks/attention.py --authors ~/Pyramid-Attention-Networks   # + their module

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

With ``--contended`` every case is measured twice, first quietly and then with one busy
single-threaded process (``while True: pass``) running beside it, as a data-loader worker or
another job would; the summary gives both speed-ups over faithful and their ratio (contended /
quiet), i.e. how much of the speed-up survives a shared machine.

With ``--authors DIR`` (a checkout of SHI-Labs/Pyramid-Attention-Networks, used as it is and
never part of this project) the authors' own ``PyramidAttention`` (``DN_RGB/code/model/
attention.py``) is timed too, with the same weights (their checkpoint keys are ours), as the
implementation ``authors``; torchvision, which their module imports but does not use, is
stubbed when absent. Their module samples the pyramid with modern ``interpolate`` semantics, so
its output differs from ours (see ``shared/docs/pyramid-attention.md``); its time does not.

Timings on a shared machine vary with its load: run it on a quiet machine and compare the
ratios. The table is printed once, in Markdown, after all cases ran.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

#: Implementations timed by default per device (faithful first: the reference of the ratios).
DEFAULT_IMPLS = {"cpu": ("faithful", "fast"), "cuda": ("faithful", "fast", "triton")}


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


def authors_module(root: str, channels: int):
    """The authors' ``PyramidAttention`` (5 levels, reduction 2, k 3) from a checkout of their
    repository at ``root``."""
    code = Path(root).expanduser() / "DN_RGB" / "code"
    if not (code / "model" / "attention.py").is_file():
        raise SystemExit(f"--authors {root}: no DN_RGB/code/model/attention.py there")
    try:
        import torchvision  # noqa: F401
    except ImportError:  # imported by their module, never used by it
        stub = types.ModuleType("torchvision")
        stub.transforms, stub.utils = types.ModuleType("transforms"), types.ModuleType("utils")
        sys.modules.update({"torchvision": stub, "torchvision.transforms": stub.transforms})
        sys.modules["torchvision.utils"] = stub.utils
    sys.path.insert(0, str(code))
    attention = importlib.import_module("model.attention")
    return attention.PyramidAttention(level=5, res_scale=1, channel=channels, reduction=2)


def make_call(case: Case, impl: str, threads: int, device: str = "cpu", authors: str | None = None):
    """A function running one call of ``case`` on a seeded module (same weights and input for
    every ``impl``; ``authors``: their module, from the checkout at ``authors``), with the fast
    path's native kernels already built."""
    import torch

    from panet.attention import PyramidAttention

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    ours = impl if impl != "authors" else "faithful"
    module = PyramidAttention(channels=case.channels, reduction=2, levels=5, impl=ours)
    if impl == "authors":
        theirs = authors_module(authors, case.channels)
        theirs.load_state_dict(module.state_dict())
        module = theirs
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


def measure(
    case: Case, impl: str, repeats: int, threads: int, device: str = "cpu", authors=None
) -> dict:
    """Run one case in this process; returns median seconds and peak extra MiB."""
    call = make_call(case, impl, threads, device, authors)
    peak_mib = _peak_of_first_call(call, impl, device)
    times = [_timed(call) for _ in range(repeats)]
    return {"seconds": statistics.median(times), "peak_mib": peak_mib}


def measure_alternately(
    case: Case, impls: tuple[str, ...], repeats: int, threads: int, device: str, authors=None
) -> tuple[dict[str, dict], dict[str, float]]:
    """All implementations in this process, timed back to back in every round (order rotating
    between rounds); returns their results (median seconds, no peak memory) and each one's
    median within-round speed-up over the first (faithful)."""
    calls = {impl: make_call(case, impl, threads, device, authors) for impl in impls}
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


def run_in_subprocess(
    case: Case, impl: str, repeats: int, threads: int, device: str, authors=None
) -> dict:
    """``measure`` in a fresh interpreter (clean allocator and high-water mark)."""
    payload = json.dumps(
        {
            "case": asdict(case),
            "impl": impl,
            "repeats": repeats,
            "threads": threads,
            "device": device,
            "authors": authors,
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


Row = tuple[Case, str, dict, dict, "float | None", "dict | None"]


def _speed(row: Row) -> float:
    """A row's speed-up over faithful: the median ratio within rounds when measured so, else
    the ratio of the median times."""
    _, _, slow, fast, speed, _ = row
    return slow["seconds"] / fast["seconds"] if speed is None else speed


def _versus_authors(row: Row) -> str:
    authors, fast = row[5], row[3]
    return "" if authors is None else f" {authors['seconds'] / fast['seconds']:.2f}x |"


def format_table(rows: list[Row]) -> str:
    """Markdown table of the measurements, one row per (case, implementation other than the
    reference); a row's speed-up is the ratio of the median times unless given (in-process
    mode: the median within-round ratio); with the authors' module measured, also each
    implementation's speed-up over it (ratio of the median times)."""
    with_authors = any(row[5] is not None for row in rows)
    lines = [
        "| shape | pass | impl | faithful time (s) | impl time (s) | speed-up "
        "| faithful peak (MiB) | impl peak (MiB) | memory ratio |"
        + (" vs authors' module |" if with_authors else ""),
        "|---|---|---|---|---|---|---|---|---|" + ("---|" if with_authors else ""),
    ]
    for row in rows:
        case, impl, slow, fast, _, _ = row
        if slow["peak_mib"] is None or fast["peak_mib"] is None:
            memory = "n/a"
        else:
            memory = f"{fast['peak_mib'] / slow['peak_mib']:.2f}" if slow["peak_mib"] else "nan"
        lines.append(
            f"| {case.label} | {case.pass_name} | {impl} | {slow['seconds']:.3f} "
            f"| {fast['seconds']:.3f} | {_speed(row):.2f}x | {_mib(slow['peak_mib'])} "
            f"| {_mib(fast['peak_mib'])} | {memory} |" + _versus_authors(row)
        )
    return "\n".join(lines)


def format_survival(quiet: list[Row], busy: list[Row]) -> str:
    """How much of each speed-up over faithful (and over the authors' module) survives one
    busy thread beside the run: the contended speed-up over the quiet one."""
    lines = [
        "| shape | pass | impl | quiet speed-up | contended speed-up | kept "
        "| quiet vs authors | contended vs authors | kept |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for calm, loud in zip(quiet, busy, strict=True):
        case, impl = calm[0], calm[1]
        kept = _speed(loud) / _speed(calm)
        authors = ["n/a"] * 3
        if calm[5] is not None and loud[5] is not None:
            a_calm = calm[5]["seconds"] / calm[3]["seconds"]
            a_loud = loud[5]["seconds"] / loud[3]["seconds"]
            authors = [f"{a_calm:.2f}x", f"{a_loud:.2f}x", f"{a_loud / a_calm:.2f}"]
        lines.append(
            f"| {case.label} | {case.pass_name} | {impl} | {_speed(calm):.2f}x "
            f"| {_speed(loud):.2f}x | {kept:.2f} | " + " | ".join(authors) + " |"
        )
    return "\n".join(lines)


@contextlib.contextmanager
def busy_thread() -> Iterator[None]:
    """One single-threaded process spinning beside the measurements (a data-loader worker,
    another job, a browser tab)."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let it start spinning
        yield
    finally:
        spinner.kill()
        spinner.wait()


def measure_cases(cases, impls: tuple[str, ...], args) -> list[Row]:
    """Every case with every implementation, by the mode the arguments ask for."""
    rows: list[Row] = []
    for case in cases:
        if args.in_process:
            results, speedups = measure_alternately(
                case, impls, args.repeats, args.threads, args.device, args.authors
            )
        else:
            results = {
                impl: run_in_subprocess(
                    case, impl, args.repeats, args.threads, args.device, args.authors
                )
                for impl in impls
            }
            speedups = {impl: None for impl in impls}
        for impl in impls[1:]:
            if impl != "authors":
                row = (case, impl, results["faithful"], results[impl], speedups[impl])
                rows.append((*row, results.get("authors")))
        print(f"measured {case.label} {case.pass_name}", file=sys.stderr, flush=True)
    return rows


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
        "fast,triton on cuda)",
    )
    parser.add_argument(
        "--cases",
        default=None,
        help="comma-separated subset of the cases as shape:pass, e.g. "
        "16x64x48x48:fwd+bwd,1x64x82x82:fwd (default: all)",
    )
    parser.add_argument(
        "--contended",
        action="store_true",
        help="measure every case quietly, then beside one busy single-threaded process",
    )
    parser.add_argument(
        "--authors",
        default=None,
        metavar="DIR",
        help="a checkout of SHI-Labs/Pyramid-Attention-Networks: time their module too",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        job = json.loads(args.worker)
        result = measure(
            Case(**job["case"]), job["impl"], job["repeats"], job["threads"], job["device"],
            job["authors"],
        )  # fmt: skip
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
    if args.authors:
        authors_module(args.authors, 64)  # fail now, not in the first worker
        impls = (*impls, "authors")
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
    rows = measure_cases(cases, impls, args)
    busy_rows = None
    if args.contended:
        with busy_thread():
            busy_rows = measure_cases(cases, impls, args)
    mode = "in one process, alternately" if args.in_process else "one subprocess per run"
    where = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(
        f"PyramidAttention(64, reduction 2, 5 levels, k 3) on {where}, {args.threads} threads, "
        f"median of {args.repeats}, {mode}, "
        f"1-min load average before/after: {load_before:.2f}/{os.getloadavg()[0]:.2f}"
    )
    if busy_rows is None:
        print(format_table(rows))
        return
    print("\nQuiet:\n" + format_table(rows))
    print("\nBeside one busy single-threaded process:\n" + format_table(busy_rows))
    print("\nSpeed-ups kept under contention:\n" + format_survival(rows, busy_rows))


if __name__ == "__main__":
    main()
