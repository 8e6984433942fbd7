"""Measuring one row of ``benchmarks/gpu_check.sh``: where it runs (``Run``), its time and peak
memory on the CPU or a GPU, and an exception turned into the row's status (``measure_row``)."""

from __future__ import annotations

import gc
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from benchmarks.gpu_table import FAILED, OK, OOM, SKIPPED, Row, RowLog  # noqa: E402

GiB = 2**30


@dataclass
class Run:
    """Where and how the rows of one step are measured."""

    device: torch.device
    dry_run: bool
    out: Path
    log: RowLog
    repeats: int

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def work(self) -> Path:
        path = self.out / "work"
        path.mkdir(parents=True, exist_ok=True)
        return path


# ---------------------------------------------------------------- measuring one row


def is_out_of_memory(error: BaseException) -> bool:
    """A CUDA or CPU allocation failure (a result to report, not a bug)."""
    if isinstance(error, torch.OutOfMemoryError | MemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )


def one_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0][:240] if lines else ''}"


def free_memory(run: Run) -> None:
    gc.collect()
    if run.cuda:
        torch.cuda.empty_cache()


def measure_row(run: Run, row: Row, measure: Callable[[Row], None]) -> Row:
    """Fill ``row`` by ``measure(row)`` and record it; an exception becomes the row's status
    (``OOM`` for an allocation failure, else ``failed``) and its first line a note."""
    try:
        measure(row)
        if row.status not in (SKIPPED, OOM, FAILED):
            row.status = OK
    except Exception as error:  # noqa: BLE001 - every failure is a row, never the end
        traceback.print_exc()
        row.status = OOM if is_out_of_memory(error) else FAILED
        row.note(one_line(error))
    free_memory(run)
    run.log.write(row)
    print(f"{row.key}: {row.status} {row.time} {row.notes}", flush=True)
    return row


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(call: Callable[[], Any], run: Run) -> float:
    """Median wall-clock milliseconds of ``run.repeats`` calls (after any warm-up)."""
    times = []
    for _ in range(run.repeats):
        sync(run.device)
        start = time.perf_counter()
        call()
        sync(run.device)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def peak_mib(call: Callable[[], Any], run: Run) -> float | None:
    """``torch.cuda.max_memory_allocated`` over one call, in MiB (None on the CPU)."""
    if not run.cuda:
        call()
        return None
    sync(run.device)
    torch.cuda.reset_peak_memory_stats(run.device)
    call()
    sync(run.device)
    return torch.cuda.max_memory_allocated(run.device) / 2**20


def relative_l2(value: torch.Tensor, reference: torch.Tensor) -> float:
    value, reference = value.detach().double().cpu(), reference.detach().double().cpu()
    return float((value - reference).norm() / reference.norm().clamp_min(1e-300))


def milliseconds(ms: float) -> str:
    return f"{ms:,.1f} ms" if ms < 10_000 else f"{ms / 1000:,.1f} s"


def mixed_dtype(device: torch.device) -> torch.dtype:
    """The autocast dtype of ``trainer=gpu``'s mixed precision (``${mixed_precision:}``)."""
    from panet.cli.trainer_setup import mixed_precision

    if device.type == "cpu" or mixed_precision() == "bf16-mixed":
        return torch.bfloat16
    return torch.float16


def light_compiler() -> None:
    """Dry run: every ``torch.compile`` (ours and the ``compiled`` attention's) traces with
    dynamo but runs the graphs eagerly instead of building inductor kernels."""
    original = torch.compile

    def compile_eagerly(model: Any = None, **options: Any) -> Any:
        options = {k: v for k, v in options.items() if k not in ("mode", "options")}
        options |= {"backend": "eager", "dynamic": False}
        return original(model, **options) if model is not None else original(**options)

    torch.compile = compile_eagerly
