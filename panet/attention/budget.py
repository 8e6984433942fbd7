"""The memory budget of the attention's working buffers, per device.

The bounded implementations (``fast``, ``triton``) cut queries and keys so that the buffers
they hold at once stay within this budget, whatever the image size; ``auto`` refuses the
unbounded ones (``faithful``, ``dense``, ``compiled``) when their plan exceeds it. Order of
precedence: the ``memory_budget_mb`` given to a call or module, then the process-wide value
(``set_memory_budget_mb``: ``pyramid.memory_budget_mb`` of train.py/evaluate.py, the restore
command's ``--memory-budget-mb``), then the device default: ``DEFAULT_CPU_BUDGET_MB`` on the
CPU, ``ACCELERATOR_FREE_SHARE`` of the memory free on an accelerator at the call.
"""

from __future__ import annotations

import os

import torch

MIB = 1 << 20
#: CPU default: large enough that the training shape (48 x 48, 5 levels) runs one image per
#: block with every key at once (about 200 MiB in backward), small next to a laptop's memory.
DEFAULT_CPU_BUDGET_MB = 512
#: Accelerator default: this share of the memory free when the call starts (free in the driver
#: plus what PyTorch's caching allocator holds unused), leaving the rest to activations.
ACCELERATOR_FREE_SHARE = 0.25

_process_budget: dict[str, float] = {}


def set_memory_budget_mb(megabytes: float | None) -> None:
    """Set (or, with None, clear) the process-wide budget of every attention call."""
    if megabytes is None:
        _process_budget.pop("mb", None)
        return
    _process_budget["mb"] = check_budget_mb(megabytes)


def check_budget_mb(megabytes: float) -> float:
    """``megabytes`` as a float, or ValueError naming the setting when it is not positive."""
    try:
        value = float(megabytes)
    except (TypeError, ValueError):
        value = float("nan")
    if not value > 0:
        raise ValueError(
            f"pyramid.memory_budget_mb must be a positive number of MiB, got {megabytes!r}; "
            "use null for the device default"
        )
    return value


def free_bytes(device: torch.device) -> int:
    """Memory available to new tensors on ``device``: on CUDA the driver's free memory plus
    what the caching allocator holds unused; on the CPU the kernel's MemAvailable (or a large
    number where it cannot be read)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + max(0, cached))
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 62


def memory_budget_bytes(device: torch.device, megabytes: float | None = None) -> int:
    """The budget in bytes for an attention call on ``device`` (see the module docstring)."""
    if megabytes is not None:
        return int(check_budget_mb(megabytes) * MIB)
    if "mb" in _process_budget:
        return int(_process_budget["mb"] * MIB)
    environment = os.environ.get("PANET_ATTENTION_BUDGET_MB")
    if environment:
        return int(check_budget_mb(environment) * MIB)
    if device.type == "cpu":
        return DEFAULT_CPU_BUDGET_MB * MIB
    return int(free_bytes(device) * ACCELERATOR_FREE_SHARE)


def static_budget_bytes(megabytes: float | None = None) -> int:
    """The budget without asking the environment or a device (while ``torch.compile`` traces):
    ``megabytes``, else the process-wide value, else the CPU default."""
    if megabytes is None:
        megabytes = _process_budget.get("mb", DEFAULT_CPU_BUDGET_MB)
    return int(megabytes * MIB)


def over_budget_message(
    impl: str, query: torch.Tensor, planned_bytes: int, megabytes: float | None = None
) -> str:
    """One line: ``impl`` would need ``planned_bytes`` of working memory for ``query``'s input,
    over the budget, and what to do."""
    batch, _, height, width = query.shape
    budget = memory_budget_bytes(query.device, megabytes)
    return (
        f"pyramid attention impl={impl} needs about {mebibytes(planned_bytes)} of working "
        f"memory for a batch of {batch} at {height}x{width} on {query.device.type}, over the "
        f"attention memory budget of {mebibytes(budget)}; raise pyramid.memory_budget_mb "
        "(or PANET_ATTENTION_BUDGET_MB), use impl=auto, or split the input (inference=chop)"
    )


def mebibytes(count: int) -> str:
    """``count`` bytes in MiB for messages: whole MiB from 10 up, two digits below."""
    value = count / MIB
    return f"{value:,.0f} MiB" if value >= 10 else f"{value:.2g} MiB"
