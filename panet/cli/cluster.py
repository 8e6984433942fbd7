"""SLURM jobs whose shape is the DDP run they start, so that none waits for ranks that never come.

Lightning's DDP under SLURM takes its world from the job: one task per process, ``nodes x
tasks_per_node`` of them. ``configs/hydra/launcher/slurm.yaml`` therefore derives the request
from the trainer: ``nodes: ${trainer.num_nodes}``, ``tasks_per_node:
${slurm_tasks:${trainer.devices}}`` and ``gpus_per_node:
${slurm_gpus:${trainer.accelerator},${trainer.devices}}``.

What can still disagree is refused before anything is submitted (``launcher_problems``, run by
the multirun check ``panet.cli.multirun_checks.ValidateSweepJobs``), one line per job:

- a launcher value set by hand (``hydra.launcher.nodes=1`` with ``trainer.num_nodes=2``);
- a swept ``trainer.devices`` or ``trainer.num_nodes``: the launcher asks SLURM once for the
  whole sweep, with the values of the command line outside the sweep;
- ``trainer.devices`` that is not a count (``auto``, ``-1``): a job must ask for a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from panet.cli.config_checks import ConfigError

#: ``hydra.launcher._target_`` of hydra-submitit-launcher's SLURM launcher.
SLURM_LAUNCHER = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
#: Accelerators that train on CPUs (a job asks SLURM for no GPU).
CPU_ACCELERATORS = ("cpu",)


def devices_per_node(devices: Any) -> int:
    """``trainer.devices`` as the count of processes per node: an integer >= 1, or a list of
    device indices (its length). ``auto``, ``-1`` and the like are refused (ConfigError)."""
    if isinstance(devices, ListConfig | list | tuple) and len(devices) > 0:
        return len(devices)
    count = devices
    if isinstance(devices, str) and devices.strip().isdigit():
        count = int(devices)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(
            f"hydra/launcher=slurm needs trainer.devices as the number of devices per node "
            f"(one SLURM task each), got {devices!r}: set e.g. trainer.devices=4"
        )
    return count


def gpus_per_node(accelerator: Any, devices: Any) -> int | None:
    """GPUs a node's tasks need: none on CPUs (``trainer.accelerator=cpu``), else one per
    device (``gpu``, ``cuda`` and ``auto`` on a GPU partition)."""
    if str(accelerator).lower() in CPU_ACCELERATORS:
        return None
    return devices_per_node(devices)


def register_cluster_resolvers() -> None:
    """Register ``${slurm_tasks:devices}`` and ``${slurm_gpus:accelerator,devices}``
    (idempotent)."""
    if not OmegaConf.has_resolver("slurm_tasks"):
        OmegaConf.register_new_resolver("slurm_tasks", devices_per_node)
    if not OmegaConf.has_resolver("slurm_gpus"):
        OmegaConf.register_new_resolver("slurm_gpus", gpus_per_node)


def is_slurm(config: DictConfig) -> bool:
    """Does this (multirun) config submit its jobs to SLURM?"""
    launcher = OmegaConf.select(config, "hydra.launcher._target_", default=None)
    return launcher == SLURM_LAUNCHER


def requested(config: DictConfig) -> tuple[int, int, int | None]:
    """(nodes, tasks per node, GPUs per node) the launcher will ask SLURM for."""
    launcher = config.hydra.launcher
    gpus = launcher.get("gpus_per_node")
    return int(launcher.nodes), int(launcher.tasks_per_node), None if gpus is None else int(gpus)


def needed(trainer: DictConfig) -> tuple[int, int, int | None]:
    """(nodes, tasks per node, GPUs per node) a job's DDP run needs."""
    return (
        int(trainer.num_nodes),
        devices_per_node(trainer.devices),
        gpus_per_node(trainer.accelerator, trainer.devices),
    )


def _shape(nodes: int, tasks: int, gpus: int | None) -> str:
    return f"{nodes} node(s) x {tasks} task(s) with {gpus or 0} GPU(s) per node"


def mismatch(asked: tuple[int, int, int | None], need: tuple[int, int, int | None]) -> bool:
    """Nodes and tasks must equal; GPUs must equal where both sides count them (a job on CPUs
    needs none; a launcher given ``gres`` instead of ``gpus_per_node`` is not second-guessed)."""
    if asked[:2] != need[:2]:
        return True
    return need[2] is not None and asked[2] is not None and asked[2] != need[2]


def launcher_problems(config: DictConfig, jobs: Sequence[Sequence[str]] | None) -> list[str]:
    """One line per job whose DDP run would not fit the SLURM job the launcher submits
    (``jobs``: each job's overrides; None when the sweeper chooses them while running, then
    the command line's own values are checked)."""
    if not is_slurm(config):
        return []
    try:
        asked = requested(config)
    except Exception as error:  # noqa: BLE001 - a resolver's ConfigError, or a bad value
        return [_config_error(error)]
    jobs = [list(job) for job in jobs] if jobs else [[]]
    common = set.intersection(*(set(job) for job in jobs))
    loader = None
    problems = []
    for number, overrides in enumerate(jobs):
        swept = " ".join(o for o in overrides if o not in common) or "the command line"
        try:
            if overrides:
                from hydra.core.global_hydra import GlobalHydra

                loader = loader or GlobalHydra.instance().config_loader()
                trainer = loader.load_sweep_config(config, overrides).trainer
            else:
                trainer = config.trainer
            need = needed(trainer)
        except Exception as error:  # noqa: BLE001
            problems.append(f"job {number} ({swept}): {_config_error(error)}")
            continue
        if mismatch(asked, need):
            problems.append(
                f"job {number} ({swept}): its DDP run needs {_shape(*need)} (trainer.num_nodes, "
                f"trainer.devices, trainer.accelerator) but hydra/launcher=slurm asks SLURM for "
                f"{_shape(*asked)}, so DDP would wait for ranks that never start; leave "
                "hydra.launcher.nodes/tasks_per_node/gpus_per_node unset (they follow the "
                "trainer) and sweep trainer.devices or trainer.num_nodes in separate commands "
                "(one SLURM request per command)"
            )
    return problems


def _config_error(error: BaseException) -> str:
    """The ConfigError in an OmegaConf error's chain (its message), else the error's first
    line."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, ConfigError):
        cause = cause.__cause__ or cause.__context__
    text = str(cause if cause is not None else error)
    return text.splitlines()[0] if text else type(error).__name__


__all__ = [
    "devices_per_node",
    "gpus_per_node",
    "launcher_problems",
    "register_cluster_resolvers",
]
