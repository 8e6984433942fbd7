"""How many DataLoader worker processes a training process gets by default.

`num_workers: auto` means: the CPUs this process may use, less one for the process itself
(it runs the training loop and feeds the GPU), and never negative. The CPUs are
- `SLURM_CPUS_PER_TASK` under SLURM: with one task per device (hydra/launcher=slurm) these
  CPUs belong to this process alone;
- otherwise the CPUs of `os.sched_getaffinity` (what taskset/cgroups allow; `os.cpu_count()`
  where the platform lacks it), shared by the `local_processes` processes that Lightning
  starts on this machine (trainer.devices under DDP), so each gets its share.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

AUTO = "auto"


def process_cpus(
    env: Mapping[str, str] | None = None,
    affinity: set[int] | None = None,
    local_processes: int = 1,
) -> int:
    """CPUs available to this process (see the module docstring)."""
    env = os.environ if env is None else env
    slurm = env.get("SLURM_CPUS_PER_TASK")
    if slurm:
        try:
            return max(1, int(slurm))
        except ValueError:
            raise ValueError(
                f"SLURM_CPUS_PER_TASK={slurm!r} is not a number of CPUs; set data.num_workers "
                "explicitly"
            ) from None
    if affinity is None:
        affinity = (
            os.sched_getaffinity(0)
            if hasattr(os, "sched_getaffinity")
            else set(range(os.cpu_count() or 1))
        )
    return max(1, len(affinity) // max(1, local_processes))


def resolve_num_workers(
    value: int | str,
    *,
    local_processes: int = 1,
    env: Mapping[str, str] | None = None,
    affinity: set[int] | None = None,
) -> int:
    """`value` itself when it is a count, else (`"auto"`) this process's CPUs minus one."""
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return process_cpus(env, affinity, local_processes) - 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"data.num_workers must be 'auto' or an integer >= 0; got {value!r}")
    return value
