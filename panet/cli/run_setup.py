"""Run plumbing shared by train.py and evaluate.py: config resolvers, the printed config tree,
the saved resolved config and the flat ``metrics.json``.

Resolvers must be registered before Hydra resolves its output folder:

``${run_folder:${run_name},${hydra.job.override_dirname}}`` names a run's folder: the explicit
``run_name`` when given, else the command's overrides (sorted by Hydra, so the same command
always maps to the same folder, which is what lets a rerun resume), else ``default``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

from panet.atomic import write_text_atomic
from panet.cli.config_checks import ConfigError
from panet.cli.required import register_required_resolver
from panet.cli.wandb_run_id import register_resolvers as register_wandb

DEFAULT_RUN_FOLDER = "default"
#: The run folder's metrics file written by train.py and evaluate.py.
METRICS_FILE = "metrics.json"
#: The repository folder (where train.py and evaluate.py live): the default ``PANET_ROOT``.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
_UNSAFE = re.compile(r"[^A-Za-z0-9._,=+@%-]+")


def run_folder(run_name: str | None, overrides: str | None) -> str:
    """One path component: ``run_name`` if set, else the overrides string made path-safe."""
    name = str(run_name) if run_name not in (None, "") else str(overrides or "")
    name = _UNSAFE.sub("_", name).strip("._")
    if len(name) > 200:  # file systems cap a component at 255 bytes
        name = name[:180] + "-" + hashlib.sha1(name.encode()).hexdigest()[:12]
    return name or DEFAULT_RUN_FOLDER


def register_resolvers() -> None:
    """Register ``run_folder``, ``required``, ``mixed_precision``, the W&B run-id resolver, the
    sweep resolvers and the SLURM launcher's (idempotent)."""
    from panet.cli.cluster import register_cluster_resolvers
    from panet.cli.sweep_resolvers import register_sweep_resolvers  # it names folders with ours
    from panet.cli.trainer_setup import register_resolvers as register_precision

    if not OmegaConf.has_resolver("run_folder"):
        OmegaConf.register_new_resolver("run_folder", run_folder)
    register_required_resolver()
    register_wandb()
    register_precision()
    register_sweep_resolvers()
    register_cluster_resolvers()


def bootstrap() -> None:
    """Prepare a script for Hydra: default ``PANET_ROOT`` (the configs' ``paths.root_dir``) to
    the repository folder and register the resolvers. Call before composing any config."""
    os.environ.setdefault("PANET_ROOT", str(PROJECT_ROOT))
    register_resolvers()


def plain_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain dicts/lists, without Hydra's own node."""
    keys = [k for k in cfg if k != "hydra"]
    try:
        container = OmegaConf.to_container(
            OmegaConf.masked_copy(cfg, keys), resolve=True, throw_on_missing=True
        )
    except InterpolationResolutionError as error:
        cause = _config_error_cause(error)
        if cause is not None:  # e.g. a ${required:...} key left unset
            raise cause from None
        raise
    assert isinstance(container, dict)
    return container


def _config_error_cause(error: BaseException) -> ConfigError | None:
    """The ``ConfigError`` a resolver raised, found in an OmegaConf error's chain."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ConfigError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def print_config_tree(cfg: DictConfig, title: str = "config") -> None:
    """Print the resolved config as a rich tree, one branch per top-level group."""
    import rich
    import rich.syntax
    import rich.tree

    tree = rich.tree.Tree(title, style="bold")
    for key, value in plain_config(cfg).items():
        branch = tree.add(str(key), style="bold cyan")
        text = OmegaConf.to_yaml(
            OmegaConf.create({key: value})
            if not isinstance(value, dict)
            else OmegaConf.create(value)
        )
        branch.add(rich.syntax.Syntax(text.rstrip(), "yaml", theme="ansi_dark"))
    rich.print(tree)


def save_resolved_config(cfg: DictConfig, output_dir: str | os.PathLike[str]) -> Path:
    """Write ``config_resolved.yaml`` (every interpolation resolved) into the run folder."""
    path = Path(output_dir) / "config_resolved.yaml"
    return write_text_atomic(path, OmegaConf.to_yaml(OmegaConf.create(plain_config(cfg))))


def start_run(cfg: DictConfig) -> Path:
    """The run folder, once the config tree is printed (when ``print_config``) and
    ``config_resolved.yaml`` is saved into it."""
    output_dir = Path(cfg.paths.output_dir)
    if cfg.get("print_config"):
        print_config_tree(cfg, title=f"run folder: {output_dir}")
    save_resolved_config(cfg, output_dir)
    return output_dir


def finish_run(output_dir: str | os.PathLike[str], metrics: Mapping[str, Any]) -> Path:
    """Write the run's ``metrics.json`` (see :func:`write_metrics`) and say where it is."""
    path = write_metrics(Path(output_dir) / METRICS_FILE, metrics)
    print(f"metrics: {path}")
    return path


def write_metrics(path: str | os.PathLike[str], metrics: Mapping[str, Any]) -> Path:
    """Write ``metrics.json``: flat ``{"<key>": number, ..., "meta": {...}}``, atomically.

    Non-finite numbers become null (JSON has no NaN/inf).
    """

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    return write_text_atomic(path, json.dumps(clean(dict(metrics)), indent=2) + "\n")


__all__ = [
    "DEFAULT_RUN_FOLDER",
    "METRICS_FILE",
    "PROJECT_ROOT",
    "bootstrap",
    "finish_run",
    "plain_config",
    "print_config_tree",
    "register_resolvers",
    "run_folder",
    "save_resolved_config",
    "start_run",
    "write_metrics",
]
