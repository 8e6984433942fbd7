"""Config resolvers for sweeps and run labels (registered by ``run_setup.register_resolvers``).

- ``${run_tags:${task.name},${tags}}``: the task name followed by the user's ``tags``, each once
  (the W&B run's tags).
- ``${sweep_group:}``: in a multirun, the sweep folder's name with its parent (e.g.
  ``denoise/levels``), so W&B groups a sweep's jobs; None for a single run or outside Hydra.
- ``${optuna_direction:${monitor_mode}}``: ``max``/``min`` as Optuna's ``maximize``/``minimize``.
- ``${optuna_storage:${hydra:sweep.dir}}``: ``sqlite:///{sweep folder}/optuna.db``, the folder
  created first (SQLite does not create it, and the sweeper opens the study before any job
  has made the folder). A rerun of the same named sweep opens the same file and continues.
- ``${trial_folder:${hydra.overrides.task},${hydra.sweeper.params}}``: an Optuna trial's
  folder, named by its searched parameters only (``pyramid.levels=4,search.positions=mid``).
- ``${positions_list:${search.positions}}``: ``pre+mid`` as ``[pre, mid]`` (an Optuna choice
  must be one plain value; ``pyramid.positions`` is a list).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from omegaconf import OmegaConf

from panet.cli.run_setup import run_folder

#: The study file inside a sweep folder.
OPTUNA_DB = "optuna.db"
_DIRECTIONS = {"max": "maximize", "min": "minimize"}


def run_tags(task_name: str | None, tags: Sequence[str] | None) -> list[str]:
    """``[task_name, *tags]`` without repeats or empty entries, in order."""
    ordered: list[str] = []
    for tag in [task_name, *(tags or [])]:
        text = "" if tag is None else str(tag).strip()
        if text and text not in ordered:
            ordered.append(text)
    return ordered


def group_name(mode: object, sweep_dir: str | None) -> str | None:
    """``{parent}/{name}`` of the sweep folder when ``mode`` is a multirun, else None."""
    if sweep_dir is None or "MULTIRUN" not in str(mode).upper():
        return None
    path = Path(str(sweep_dir))
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def sweep_group() -> str | None:
    """:func:`group_name` of the running Hydra job (None when Hydra is not running a job)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    return group_name(hydra_cfg.mode, hydra_cfg.sweep.dir)


def optuna_direction(monitor_mode: str) -> str:
    """Optuna's direction for ``monitor_mode`` (``max`` or ``min``)."""
    if monitor_mode not in _DIRECTIONS:
        raise ValueError(f"monitor_mode must be 'max' or 'min', got {monitor_mode!r}")
    return _DIRECTIONS[monitor_mode]


def optuna_storage(sweep_dir: str) -> str:
    """SQLite URL of the study file in ``sweep_dir`` (created if missing)."""
    folder = Path(str(sweep_dir)).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / OPTUNA_DB}"


def trial_folder(overrides: Sequence[str], searched: Mapping[str, object] | None) -> str:
    """The job's overrides of the searched keys, sorted, as one path-safe folder name."""
    keys = set(searched or {})
    chosen = sorted(o for o in overrides if str(o).split("=", 1)[0].lstrip("+~") in keys)
    return run_folder(None, ",".join(chosen))


def positions_list(word: str) -> list[str]:
    """``"pre+mid"`` -> ``["pre", "mid"]`` (checked later with ``pyramid.positions``)."""
    return [part.strip() for part in str(word).split("+") if part.strip()]


def register_sweep_resolvers() -> None:
    """Register the resolvers (idempotent)."""
    for name, function in (
        ("positions_list", positions_list),
        ("trial_folder", trial_folder),
        ("run_tags", run_tags),
        ("sweep_group", sweep_group),
        ("optuna_direction", optuna_direction),
        ("optuna_storage", optuna_storage),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, function)


__all__ = [
    "OPTUNA_DB",
    "group_name",
    "optuna_direction",
    "optuna_storage",
    "positions_list",
    "register_sweep_resolvers",
    "run_tags",
    "sweep_group",
    "trial_folder",
]
