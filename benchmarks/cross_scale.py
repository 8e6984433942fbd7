"""Time and memory of CSNLN's cross-scale attention and of the whole CSNLN x2, forward+backward:
the authors' way (one image at a time, as their Python loop over the batch), our batched
faithful path, and the fast box-sum path.

Usage::

    python benchmarks/cross_scale.py                      # module at batch 16 + CSNLN x2
    python benchmarks/cross_scale.py --batch 4 --repeats 2 --model-batch 1
    python benchmarks/cross_scale.py --quick              # small shapes, a smoke run
    python benchmarks/cross_scale.py --skip-module --depth 2 --impls official fast

Cases: ``CrossScaleAttention(128, up_factor 2)`` on ``[batch, 128, 48, 48]`` (the x2 training
shape: batch 16, LR patch 48) and the whole ``CSNLN(scale=2)`` (128 features, depth 12) on
``[model-batch, 3, 48, 48]``; every call computes ``out.sum().backward()`` (gradients for the
input and every parameter).

Implementations: ``official`` = ``faithful_cross_scale`` applied to one image at a time and
concatenated, which is the authors' loop (the tests hold the faithful path equal to a
re-statement of their forward); ``faithful`` = the same on the whole batch (grouped
convolutions); ``fast`` = the box-sum path.

How it measures (as ``benchmarks/attention.py``): each (case, implementation) runs in a fresh
subprocess; one warm-up call, whose rise of the peak resident set size above the resident size
just before it is the peak memory, then ``--repeats`` timed calls whose median is reported.
The 1-minute load average before and after is printed: on a shared machine the absolute times
move with the load, the ratios much less.
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

IMPLS = ("official", "faithful", "fast")


def _rss_kib() -> int:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def _looped(fn):
    """``fn`` applied image by image, as the authors' loop over the batch."""
    import torch

    def call(query, key, value, **options):
        parts = [
            fn(query[i : i + 1], key[i : i + 1], value[i : i + 1], **options)
            for i in range(query.shape[0])
        ]
        return torch.cat(parts, dim=0)

    return call


def make_call(case: str, impl: str, batch: int, size: int, threads: int, depth: int):
    """A function running one forward+backward of ``case`` ("module" or "model")."""
    import torch

    from panet.attention.cross_scale import CrossScaleAttention, faithful_cross_scale
    from panet.models.csnln import CSNLN

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    module_impl = "faithful" if impl == "official" else impl
    if case == "module":
        net = CrossScaleAttention(128, up_factor=2, impl=module_impl)
        x = torch.randn(batch, 128, size, size)
        attention_modules = [net]
    else:
        net = CSNLN(scale=2, depth=depth, attention_impl=module_impl)
        x = torch.rand(batch, 3, size, size)
        attention_modules = [m for m in net.modules() if isinstance(m, CrossScaleAttention)]
    if impl == "official":
        for module in attention_modules:
            module._attend = _looped(faithful_cross_scale)

    def call() -> None:
        net.zero_grad(set_to_none=True)
        net(x.clone().requires_grad_()).sum().backward()

    return call


def measure(job: dict) -> dict:
    call = make_call(
        job["case"], job["impl"], job["batch"], job["size"], job["threads"], job["depth"]
    )
    before = _rss_kib()
    call()
    peak_mib = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    times = []
    for _ in range(job["repeats"]):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "peak_mib": peak_mib}


def run_in_subprocess(job: dict) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(job)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def format_table(rows: list[tuple[str, dict[str, dict]]]) -> str:
    """Markdown: per case, each implementation's median time and peak, and ratios to the
    authors' way (speed-up = official time / time; memory = peak / official peak)."""
    lines = [
        "| case | impl | median time (s) | speed-up | peak (MiB) | memory ratio |",
        "|---|---|---|---|---|---|",
    ]
    for label, results in rows:
        official = results.get("official")
        for impl, result in results.items():
            speed = memory = "n/a"
            if official is not None:
                speed = f"{official['seconds'] / result['seconds']:.2f}x"
                if official["peak_mib"]:
                    memory = f"{result['peak_mib'] / official['peak_mib']:.2f}"
            lines.append(
                f"| {label} | {impl} | {result['seconds']:.3f} | {speed} "
                f"| {result['peak_mib']:.0f} | {memory} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16, help="module case batch (16)")
    parser.add_argument("--model-batch", type=int, default=1, help="whole-model case batch")
    parser.add_argument("--size", type=int, default=48, help="LR side (48)")
    parser.add_argument("--depth", type=int, default=12, help="CSNLN depth of the model case")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per run (median)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--skip-model", action="store_true", help="only the module case")
    parser.add_argument("--skip-module", action="store_true", help="only the whole-model case")
    parser.add_argument(
        "--impls", nargs="+", choices=IMPLS, default=list(IMPLS), help="implementations to run"
    )
    parser.add_argument("--quick", action="store_true", help="batch 2, 24 px, depth 2")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(json.loads(args.worker))))
        return
    if args.quick:
        args.batch, args.model_batch, args.size, args.depth = 2, 1, 24, 2
    if args.threads is None:
        import torch

        args.threads = torch.get_num_threads()
    load_before = os.getloadavg()[0]
    cases = []
    if not args.skip_module:
        label = f"CS-NL {args.batch}x128x{args.size}x{args.size} fwd+bwd"
        cases.append(("module", args.batch, label))
    if not args.skip_model:
        label = f"CSNLN x2 depth {args.depth}, {args.model_batch}x3x{args.size}x{args.size} fwd+bwd"
        cases.append(("model", args.model_batch, label))
    rows = []
    for case, batch, label in cases:
        results = {}
        for impl in args.impls:
            job = {"case": case, "impl": impl, "batch": batch, "size": args.size}
            job |= {"threads": args.threads, "depth": args.depth, "repeats": args.repeats}
            results[impl] = run_in_subprocess(job)
            print(f"measured {label} {impl}: {results[impl]}", file=sys.stderr, flush=True)
        rows.append((label, results))
    print(
        f"{args.threads} threads, median of {args.repeats}, one subprocess per run, "
        f"1-min load average before/after: {load_before:.2f}/{os.getloadavg()[0]:.2f}"
    )
    print(format_table(rows))


if __name__ == "__main__":
    main()
