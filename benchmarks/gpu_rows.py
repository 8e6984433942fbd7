"""The measurements of ``benchmarks/gpu_check.sh``, one subcommand per step of the check.

    python -m benchmarks.gpu_rows env          --out OUT --step 01-environment --device cuda
    python -m benchmarks.gpu_rows attention    --case 16x64x48x48:fwd+bwd ...
    python -m benchmarks.gpu_rows cross-scale | largest-patch | train-steps --mode eager
    python -m benchmarks.gpu_rows quickstart [--ddp] | evaluate | data
    python -m benchmarks.gpu_rows table        --out OUT      # the Markdown table of all steps

Each subcommand appends its rows to ``OUT/rows/<step>.jsonl`` (``benchmarks.gpu_table``); every
row is measured on its own, so an exception or an out-of-memory becomes that row's status and
the next row still runs. ``--dry-run`` runs the same code on tiny shapes and tiny networks on the
CPU, with ``torch.compile``'s "eager" backend (dynamo traces every graph, inductor's C++ build is
left out: it takes minutes per graph on a small CPU), so that the check itself is tested.

What is measured (GPU: ``torch.cuda.synchronize`` around every timed call; peak MiB is
``torch.cuda.max_memory_allocated`` over one call, inputs and weights included; the CPU has no
peak):

- pyramid attention: the full ``PyramidAttention`` module (C = 64, reduction 2, 5 levels, k 3,
  seeded weights and input shared by every implementation), each implementation registered in
  ``panet.attention.pyramid.IMPLEMENTATIONS`` (``auto`` is not a method of its own: the
  reference row says what it picks), one warm-up call, the peak of one call, the median of
  ``--repeats``; relative L2 error of the output (and of the input gradient) to ``faithful``;
- CSNLN's cross-scale attention (128 channels, x2) forward+backward: the authors' per-image
  loop (``official``), our batched ``faithful`` and every box-sum implementation;
- the largest square PANet (R = 80) training patch at batch 16 whose step (bf16-mixed, Adam)
  stays within 16 GiB (the allocator capped there), per attention implementation;
- training steps/s under bf16-mixed of PANet, PA-EDSR x2, MPRNet-deblur and CSNLN x2, eager or
  ``torch.compile``;
- the quick start under ``trainer=gpu`` (and under ``trainer=ddp`` on two GPUs), and
  ``evaluate.py`` on Kodak24 (whole images) and Set5 x2 (chop): wall time, PSNR, peak memory;
- the uint8 cache's batches/s with the workers ``data.num_workers=auto`` picks, against the
  PANet training step rate measured by the training rows.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchmarks.attention import Case  # noqa: E402
from benchmarks.gpu_measure import (  # noqa: E402
    GiB,
    Run,
    free_memory,
    is_out_of_memory,
    light_compiler,
    measure_row,
    median_ms,
    milliseconds,
    mixed_dtype,
    one_line,
    peak_mib,
    relative_l2,
)
from benchmarks.gpu_runs import step_data, step_evaluate, step_quickstart  # noqa: E402
from benchmarks.gpu_table import (  # noqa: E402
    FAILED,
    FINE,
    OK,
    OOM,
    SKIPPED,
    Row,
    RowLog,
    all_rows,
    build_table,
    summary,
)

#: The memory a PANet training patch must fit in (a 16 GiB GPU, the common small one).
PATCH_BUDGET_BYTES = 16 * GiB


# ---------------------------------------------------------------- environment


def command_output(*command: str) -> str:
    if shutil.which(command[0]) is None:
        return f"no {command[0]}"
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    return result.stdout.strip().splitlines()[0] if result.stdout.strip() else "n/a"


def module_version(name: str) -> str:
    try:
        module = __import__(name)
    except ImportError:
        return "not installed"
    return str(getattr(module, "__version__", "installed"))


def auto_choice(device: torch.device) -> str:
    """What ``impl="auto"`` runs on ``device`` for PANet's training shape (16 x 64 x 48 x 48,
    5 levels, float32, with autograd) within the default memory budget."""
    try:
        from panet.attention.dispatch import AttentionCall, choose

        sizes = [int(48 * (1 - level / 10)) for level in range(5)]
        query = torch.empty(16, 32, 48, 48, device=device, requires_grad=True)
        keys = tuple(torch.empty(16, 32, n, n, device=device) for n in sizes)
        values = tuple(torch.empty(16, 64, n, n, device=device) for n in sizes)
        name = choose(AttentionCall(query, keys, values, patch_size=3, hard=False)).name
        return f"{name} (at 16x64x48x48, 5 levels, float32)"
    except Exception as error:  # noqa: BLE001 - a changed signature must not hide the rest
        return f"? ({one_line(error)})"


def environment_facts(run: Run) -> dict[str, str]:
    """What ran the check: date, machine, GPU, versions, bf16."""
    facts = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    facts["host"] = f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    if run.cuda:
        properties = torch.cuda.get_device_properties(run.device)
        facts["GPU"] = f"{torch.cuda.get_device_name(run.device)} (x{torch.cuda.device_count()})"
        facts["GPU memory"] = f"{properties.total_memory / GiB:.1f} GiB"
        facts["compute capability"] = f"{properties.major}.{properties.minor}"
        facts["driver"] = command_output(
            "nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"
        )
        facts["bf16"] = str(torch.cuda.is_bf16_supported())
    else:
        facts["GPU"] = "none: CPU dry run" if run.dry_run else "none"
        facts["bf16"] = "CPU autocast (bfloat16)"
    facts["torch"] = torch.__version__
    facts["CUDA"] = str(torch.version.cuda)
    facts["cuDNN"] = str(torch.backends.cudnn.version())
    facts["Triton"] = module_version("triton")
    facts["Lightning"] = module_version("pytorch_lightning")
    facts["Hydra, OmegaConf, kornia"] = (
        ", ".join(module_version(name) for name in ("hydra", "omegaconf", "kornia"))
        + f" (from {Path(__import__('hydra').__file__).parents[1]})"
    )
    facts["pyramid impl=auto"] = auto_choice(run.device)
    return facts


def step_env(run: Run, _args: argparse.Namespace) -> None:
    facts = environment_facts(run)
    for name, value in facts.items():
        run.log.write(Row("environment", name, status=OK, notes=value))


# ---------------------------------------------------------------- pyramid attention


def attention_implementations() -> list[str]:
    """``faithful`` first, then every other registered implementation except ``auto``
    (read at run time: new implementations get rows without a change here)."""
    from panet.attention.pyramid import IMPLEMENTATIONS

    return ["faithful", *(name for name in IMPLEMENTATIONS if name not in ("faithful", "auto"))]


def capability_reasons(impl: str, device: torch.device) -> list[str]:
    """Why pyramid implementation ``impl`` cannot run float32 soft attention on ``device`` at
    all (a missing library, another device), whatever the input size: such a row is skipped
    with that reason rather than failed. Names that are not pyramid implementations: none."""
    from panet.attention.dispatch import IMPLEMENTATIONS, AttentionCall

    if impl not in IMPLEMENTATIONS:
        return []
    probe = torch.zeros(1, 4, 6, 6, device=device)
    call = AttentionCall(probe, (probe,), (torch.zeros(1, 8, 6, 6, device=device),), 3, False)
    return IMPLEMENTATIONS[impl].reasons(call)


def parse_case(text: str) -> Case:
    """``16x64x48x48:fwd+bwd`` -> Case(16, 64, 48, backward=True)."""
    shape, _, pass_name = text.partition(":")
    batch, channels, height, width = (int(n) for n in shape.split("x"))
    if height != width or pass_name not in ("fwd", "fwd+bwd"):
        raise ValueError(f"--case {text!r}: expected BxCxSxS:fwd or BxCxSxS:fwd+bwd")
    return Case(batch, channels, height, pass_name == "fwd+bwd")


def tiny_case(case: Case) -> Case:
    """The dry run's stand-in: batch <= 2, 8 channels, 12-20 px."""
    return Case(min(case.batch, 2), 8, max(12, min(20, case.size // 16)), case.backward)


def attention_pass(module: torch.nn.Module, x: torch.Tensor, backward: bool):
    """One call: the output and, for fwd+bwd, the input's gradient (``out.sum()``)."""
    if not backward:
        with torch.no_grad():
            return module(x), None
    module.zero_grad(set_to_none=True)
    xi = x.clone().requires_grad_()
    out = module(xi)
    out.sum().backward()
    return out.detach(), xi.grad


def seeded_attention(case: Case, impl: str, device: torch.device):
    """The module and input of ``benchmarks.attention.make_call`` (same seed, same order), but
    kept so that the output can be compared."""
    from panet.attention import PyramidAttention

    torch.manual_seed(0)
    module = PyramidAttention(channels=case.channels, reduction=2, levels=5, impl=impl)
    x = torch.randn(case.batch, case.channels, case.size, case.size)
    return module.to(device), x.to(device)


def compare(row: Row, reference: tuple | None, result: tuple) -> None:
    """Relative L2 error of ``result`` (output, input gradient) to the reference's."""
    if reference is None:
        row.note("no reference: faithful did not finish")
        return
    text = f"{relative_l2(result[0], reference[0]):.1e}"
    if result[1] is not None:
        text += f" / grad {relative_l2(result[1], reference[1]):.1e}"
    row.rel_error = text


def measure_against_reference(
    run: Run,
    group: str,
    label: str,
    variants: list[str],
    build: Callable[[str], tuple[torch.nn.Module, torch.Tensor]],
    backward: bool,
    reference_note: str,
) -> list[Row]:
    """One row per variant of an attention module: median ms, peak MiB and the relative error
    to the first variant (the reference) on the same seeded input. ``build(variant)`` gives
    the module and its input."""
    rows = [Row(group, label, variant) for variant in variants]
    run.log.plan(rows)
    reference: tuple | None = None
    for variant, row in zip(variants, rows, strict=True):

        def measure(row: Row, variant: str = variant) -> None:
            nonlocal reference
            reasons = capability_reasons(variant, run.device)
            if reasons:
                row.status = SKIPPED
                row.note("; ".join(reasons))
                return
            module, x = build(variant)
            result = attention_pass(module, x, backward)  # warm-up (compiles), compared
            if variant == variants[0]:
                reference = tuple(None if t is None else t.cpu() for t in result)
                row.note(reference_note)
            else:
                compare(row, reference, result)
            del result

            def call() -> None:
                attention_pass(module, x, backward)

            row.peak_mib = peak_mib(call, run)
            row.time = milliseconds(median_ms(call, run))

        measure_row(run, row, measure)
    return rows


def step_attention(run: Run, args: argparse.Namespace) -> None:
    asked = parse_case(args.case)
    case = tiny_case(asked) if run.dry_run else asked
    note = f"reference (the authors' algorithm); auto runs {auto_choice(run.device)}"
    if run.dry_run:
        note += f"; dry run for {asked.label} {asked.pass_name}"
    measure_against_reference(
        run,
        "pyramid attention",
        f"{case.label} {case.pass_name}",
        attention_implementations(),
        lambda impl: seeded_attention(case, impl, run.device),
        case.backward,
        note,
    )


# ---------------------------------------------------------------- CSNLN cross-scale attention


def cross_scale_variants() -> list[str]:
    """``official`` (the authors' per-image loop), ``faithful`` (batched) and every other name
    ``resolve_cross_scale`` accepts except ``auto``."""
    from panet.attention.cross_scale import BOX_SUM_PYRAMIDS, CROSS_SCALE_IMPLEMENTATIONS

    names = [*CROSS_SCALE_IMPLEMENTATIONS, *BOX_SUM_PYRAMIDS]
    ours = [n for n in dict.fromkeys(names) if n not in ("faithful", "auto")]
    return ["official", "faithful", *ours]


def seeded_cross_scale(variant: str, batch: int, channels: int, size: int, device: torch.device):
    """``CrossScaleAttention(channels, up_factor=2)`` seeded as in ``benchmarks/cross_scale.py``
    (which builds it on the CPU only); ``official`` loops ``faithful`` over the batch."""
    from benchmarks.cross_scale import _looped
    from panet.attention.cross_scale import CrossScaleAttention, faithful_cross_scale

    torch.manual_seed(0)
    impl = "faithful" if variant == "official" else variant
    module = CrossScaleAttention(channels, up_factor=2, impl=impl)
    x = torch.randn(batch, channels, size, size)
    if variant == "official":
        module._attend = _looped(faithful_cross_scale)
    return module.to(device), x.to(device)


def step_cross_scale(run: Run, _args: argparse.Namespace) -> None:
    batch, channels, size = (2, 8, 12) if run.dry_run else (16, 128, 48)
    measure_against_reference(
        run,
        "cross-scale attention",
        f"CS-NL x2 {batch}x{channels}x{size}x{size} fwd+bwd",
        cross_scale_variants(),
        lambda variant: seeded_cross_scale(variant, batch, channels, size, run.device),
        True,
        "reference (the authors' loop over the batch)",
    )


# ---------------------------------------------------------------- training


@dataclass(frozen=True)
class Training:
    """A network's training step: ``arch``/``arch_args`` for the registry, LR patch, batch."""

    label: str
    arch: str
    arch_args: dict
    patch: int
    batch: int
    scale: int = 1
    pixel_range: float = 1.0


#: Networks whose constructor takes ``attention_impl``.
ATTENTION_ARCHS = ("panet", "pa_edsr", "csnln")


def training_setups(dry_run: bool) -> list[Training]:
    """PANet (R = 80), PA-EDSR x2, MPRNet-deblur and CSNLN x2 at their papers' patch and batch;
    tiny networks and patches in the dry run."""
    if dry_run:
        return [
            Training("PANet (tiny), 2x16^2", "panet", {"n_feats": 8, "n_resblocks": 2}, 16, 2),
            Training(
                "PA-EDSR x2 (tiny), 2x8^2",
                "pa_edsr",
                {"scale": 2, "n_feats": 8, "n_resblocks": 2},
                8,
                2,
                scale=2,
                pixel_range=255.0,
            ),
            Training(
                "MPRNet (tiny), 1x16^2",
                "mprnet",
                {"variant": None, "n_feats": 8, "scale_unetfeats": 4, "scale_orsnetfeats": 4}
                | {"num_cab": 1},
                16,
                1,
            ),
            Training(
                "CSNLN x2 (tiny), 1x8^2", "csnln", {"scale": 2, "n_feats": 8, "depth": 1}, 8, 1, 2
            ),
        ]
    return [
        Training("PANet R=80, 16x48^2", "panet", {"n_resblocks": 80}, 48, 16),
        Training("PA-EDSR x2, 16x48^2 (LR)", "pa_edsr", {"scale": 2}, 48, 16, 2, 255.0),
        Training("MPRNet-deblur, 4x256^2", "mprnet", {"variant": "deblur"}, 256, 4),
        Training("CSNLN x2, 16x48^2 (LR)", "csnln", {"scale": 2}, 48, 16, scale=2),
    ]


def training_step(
    setup: Training, device: torch.device, compiled: bool, attention_impl: str | None = None
) -> Callable[[], float]:
    """A function doing one bf16-mixed training step (L1 on every output, Adam) on a random
    batch; returns the loss. Attention runs ``attention_impl``, by default ``auto`` (as
    ``pyramid.impl`` in the configs: under ``torch.compile`` it traces the dense form)."""
    from panet.models.registry import build_network

    torch.manual_seed(0)
    arch_args = dict(setup.arch_args)
    if setup.arch in ATTENTION_ARCHS:  # the configs' pyramid.impl (the classes default to fast)
        arch_args["attention_impl"] = attention_impl or "auto"
    net = build_network(setup.arch, **arch_args).to(device)
    model = torch.compile(net) if compiled else net
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    size = setup.patch
    lq = torch.rand(setup.batch, 3, size, size, device=device) * setup.pixel_range
    gt = torch.rand(setup.batch, 3, size * setup.scale, size * setup.scale, device=device)
    gt = gt * setup.pixel_range
    dtype = mixed_dtype(device)

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype):
            out = model(lq)
            outputs = out if isinstance(out, list | tuple) else [out]
            loss = sum(F.l1_loss(o.float(), gt) for o in outputs)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step


def eager_ms(out: Path, case: str) -> float | None:
    """The eager step time already recorded for ``case`` (for the compiled rows' ratio)."""
    for row in all_rows(out):
        same = row.group == "training steps" and row.case == case and row.variant == "eager"
        if same and row.status == OK and row.time.endswith(" ms"):
            return float(row.time.split()[0].replace(",", ""))
    return None


def step_train_steps(run: Run, args: argparse.Namespace) -> None:
    compiled = args.mode == "compiled"
    setups = training_setups(run.dry_run)
    rows = [Row("training steps", s.label, args.mode) for s in setups]
    run.log.plan(rows)
    for setup, row in zip(setups, rows, strict=True):

        def measure(row: Row, setup: Training = setup) -> None:
            start = time.perf_counter()
            step = training_step(setup, run.device, compiled)
            warm_up = 1 if run.dry_run else 2  # compilation (forward, backward), cuDNN choices
            for _ in range(warm_up):
                loss = step()
            if compiled:
                seconds = time.perf_counter() - start
                row.note(f"compiled and {warm_up} warm-up step(s) in {seconds:.0f} s")
            row.peak_mib = peak_mib(step, run)
            ms = median_ms(step, run)
            row.time = milliseconds(ms)
            precision = str(mixed_dtype(run.device)).removeprefix("torch.")
            row.note(f"{1000 / ms:.2f} steps/s; {precision} autocast")
            if setup.arch in ATTENTION_ARCHS:
                row.note("attention impl=auto")
            if compiled and (eager := eager_ms(run.out, setup.label)) is not None:
                row.note(f"{eager / ms:.2f}x the eager step")
            if loss != loss:  # NaN
                row.status = FAILED
                row.note("the loss is NaN")

        measure_row(run, row, measure)


def fits(step: Callable[[], float], run: Run) -> tuple[bool, float | None]:
    """Does one training step run within the budget? (and its peak MiB)"""
    try:
        peak = peak_mib(step, run)
    except Exception as error:  # noqa: BLE001
        if not is_out_of_memory(error):
            raise
        fitted = False
        peak = None
    else:
        fitted = peak is None or peak * 2**20 <= PATCH_BUDGET_BYTES
    free_memory(run)
    return fitted, peak


def largest_fitting(
    try_size: Callable[[int], bool], start: int, step: int, cap: int
) -> tuple[int | None, int | None]:
    """The largest multiple of ``step`` up to ``cap`` for which ``try_size`` holds (sizes
    above a failing one are taken to fail too): doubling from ``start``, then bisection.
    Returns it (None when even ``step`` fails) and the smallest size that failed (None: none
    did, the cap was reached)."""
    good, bad = 0, None
    size = min(start, cap)
    while bad is None and good < cap:
        if try_size(size):
            good, size = size, min(cap, size * 2)
        else:
            bad = size
    while bad is not None and bad - good > step:
        middle = (good + bad) // 2 // step * step
        if try_size(middle):
            good = middle
        else:
            bad = middle
    return (good or None), bad


def step_largest_patch(run: Run, _args: argparse.Namespace) -> None:
    if run.dry_run:
        base = Training("PANet (tiny), batch 2", "panet", {"n_feats": 8, "n_resblocks": 2}, 0, 2)
        start, step_size, cap = 8, 8, 8  # one size: the search itself is unit-tested
    else:
        base = Training("PANet R=80, batch 16", "panet", {"n_resblocks": 80}, 0, 16)
        start, step_size, cap = 48, 8, 512
    if run.cuda:
        total = torch.cuda.get_device_properties(run.device).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, PATCH_BUDGET_BYTES / total), run.device)
    budget = "within 16 GiB" if run.cuda else "(CPU: no memory cap)"
    impls = attention_implementations()
    rows = [Row("largest training patch", f"{base.label}, {budget}", impl) for impl in impls]
    run.log.plan(rows)
    for impl, row in zip(impls, rows, strict=True):

        def measure(row: Row, impl: str = impl) -> None:
            reasons = capability_reasons(impl, run.device)
            if reasons:
                row.status = SKIPPED
                row.note("; ".join(reasons))
                return
            peaks: dict[int, float | None] = {}

            def try_size(size: int) -> bool:
                setup = Training(base.label, base.arch, base.arch_args, size, base.batch)
                step = training_step(setup, run.device, compiled=False, attention_impl=impl)
                fitted, peaks[size] = fits(step, run)
                print(f"{impl} patch {size}: {'fits' if fitted else 'does not fit'}", flush=True)
                return fitted

            largest, failed = largest_fitting(try_size, start, step_size, cap)
            if largest is None:
                row.status = OOM
                row.note(f"not even {step_size}x{step_size} fits")
                return
            row.peak_mib = peaks[largest]
            row.note(f"largest patch {largest}x{largest}")
            row.note(f"{failed}x{failed} does not fit" if failed else f"search cap {cap} reached")

        measure_row(run, row, measure)
    rows[0].note("one bf16-mixed training step with Adam per size tried")
    run.log.write(rows[0])


# ---------------------------------------------------------------- the table


def step_table(out: Path) -> int:
    """Print and write the table; exit status 1 when a row failed or ran out of time."""
    table, rows = build_table(out)
    line = summary(rows)
    (out / "table.md").write_text(table + "\n\n" + line + "\n")
    print(table)
    print()
    print(line)
    print(f"table: {out / 'table.md'}; raw logs: {out / 'logs'}")
    return 0 if all(row.status in FINE for row in rows) else 1


STEPS: dict[str, Callable[[Run, argparse.Namespace], None]] = {
    "env": step_env,
    "attention": step_attention,
    "cross-scale": step_cross_scale,
    "largest-patch": step_largest_patch,
    "train-steps": step_train_steps,
    "quickstart": step_quickstart,
    "evaluate": step_evaluate,
    "data": step_data,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=[*STEPS, "table"])
    parser.add_argument("--out", type=Path, required=True, help="the check's output folder")
    parser.add_argument("--step", help="this step's name (its rows file and log)")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--dry-run", action="store_true", help="tiny shapes on the CPU")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls (median)")
    parser.add_argument("--case", default="16x64x48x48:fwd+bwd", help="attention: BxCxSxS:pass")
    parser.add_argument("--mode", choices=("eager", "compiled"), default="eager")
    parser.add_argument("--ddp", action="store_true", help="quickstart: trainer=ddp, 2 devices")
    args = parser.parse_args(argv)
    if args.what == "table":
        return step_table(args.out)
    if args.step is None:
        parser.error("--step is required")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: this torch build sees no CUDA device (--dry-run: CPU)")
    if args.dry_run:
        light_compiler()
    repeats = args.repeats or (1 if args.dry_run else 3)
    log = RowLog(args.out, args.step)
    run = Run(torch.device(args.device), args.dry_run, args.out, log, repeats)
    STEPS[args.what](run, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
