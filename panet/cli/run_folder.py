"""A run folder belongs to one configuration: checks made before training touches it.

- ``config_change_problem``: resuming from a folder whose saved ``config_resolved.yaml`` differs
  from the new config in anything but the keys that may change between sessions of one run
  (``MAY_CHANGE_ON_RESUME``: length of training, devices, the attention's memory budget,
  workers, logging, paths) names the
  differing keys and the two ways out.
- ``check_writable``: the run folder and ``checkpoints/`` accept new files (a read-only folder
  would otherwise cost every step until the first save).
- ``remove_stale_temporaries``: ``.tmp-*`` files that a killed writer left (``panet.atomic``).
- ``checkpoint_architecture_problem``: an explicit ``ckpt_path`` that holds another network
  (the file itself is read by ``panet.checkpoints.training.read_training_checkpoint``).
"""

from __future__ import annotations

import fnmatch
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from panet.atomic import TEMP_PREFIX
from panet.cli.config_checks import ConfigError

SAVED_CONFIG = "config_resolved.yaml"
CHECKPOINTS = "checkpoints"

#: Dotted keys (fnmatch patterns) that may differ between the saved config and a resumed run:
#: they change how long, where, on what hardware and with how much logging it runs, never what
#: is trained.
MAY_CHANGE_ON_RESUME: tuple[str, ...] = (
    "trainer.max_steps",
    "trainer.max_epochs",
    "trainer.max_time",
    "trainer.devices",
    "trainer.num_nodes",
    "trainer.accelerator",
    "trainer.strategy",
    "trainer.strategy.*",
    "trainer.log_every_n_steps",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.default_root_dir",
    "pyramid.memory_budget_mb",
    "data.num_workers",
    "data.benchmark_root",
    "logger",
    "logger.*",
    "callbacks",
    "callbacks.*",
    "paths",
    "paths.*",
    "resume",
    "ckpt_path",
    "test",
    "print_config",
    "run_name",
    "seeds",
    "baseline",
)


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b.c": leaf}`` for every leaf of nested dicts (lists are leaves)."""
    if isinstance(config, Mapping) and config:
        flat: dict[str, Any] = {}
        for key, value in config.items():
            flat.update(flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): config}


def may_change(key: str) -> bool:
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in MAY_CHANGE_ON_RESUME)


def changed_keys(saved: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(key, saved value, new value)`` for each leaf that differs and may not change."""
    old_flat, new_flat = flatten(saved), flatten(new)
    missing = object()
    changes = []
    for key in sorted(set(old_flat) | set(new_flat)):
        before, after = old_flat.get(key, missing), new_flat.get(key, missing)
        if before != after and not may_change(key):
            changes.append(
                (
                    key,
                    "(absent)" if before is missing else before,
                    "(absent)" if after is missing else after,
                )
            )
    return changes


def load_saved_config(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The folder's ``config_resolved.yaml`` as plain dicts, or None when there is none."""
    path = Path(run_dir) / SAVED_CONFIG
    if not path.is_file():
        return None
    loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    return loaded if isinstance(loaded, dict) else None


def config_change_problem(
    run_dir: str | os.PathLike[str], new: Mapping[str, Any], *, limit: int = 8
) -> str | None:
    """Why ``new`` may not resume the run in ``run_dir`` (None when it may)."""
    saved = load_saved_config(run_dir)
    if saved is None:
        return None
    changes = changed_keys(saved, new)
    if not changes:
        return None
    shown = "; ".join(f"{k}: {a!r} (saved) -> {b!r} (now)" for k, a, b in changes[:limit])
    more = f"; and {len(changes) - limit} more" if len(changes) > limit else ""
    return (
        f"run folder {run_dir} holds a run of another configuration, so it cannot resume: "
        f"{shown}{more}. Either start over in this folder with resume=false (its checkpoints "
        f"are replaced), or keep it and train elsewhere with run_name=<another name>. Keys "
        f"that may change on resume: length of training (trainer.max_steps), devices, "
        f"pyramid.memory_budget_mb, data.num_workers, logger, callbacks, paths."
    )


def check_resume_config(run_dir: str | os.PathLike[str], new: Mapping[str, Any]) -> None:
    """Raise ``ConfigError`` when ``new`` differs from the folder's saved config (see above)."""
    problem = config_change_problem(run_dir, new)
    if problem:
        raise ConfigError(problem)


def check_writable(*folders: str | os.PathLike[str]) -> None:
    """Create each folder and write (then remove) a probe file in it; ``PermissionError`` with
    the folder and the fix otherwise."""
    for folder in map(Path, folders):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder, prefix=f"{TEMP_PREFIX}probe."):
                pass
        except OSError as error:
            raise PermissionError(
                f"cannot write into {folder} ({error.strerror or error}): the run saves its "
                f"config, checkpoints and metrics there. Make it writable (chmod u+w) or choose "
                f"another folder with paths.log_dir=... or run_name=..."
            ) from None


def remove_stale_temporaries(*folders: str | os.PathLike[str]) -> list[Path]:
    """Delete the ``.tmp-*`` files in ``folders`` (left by a writer killed mid-write: atomic
    writes rename their temporary file on success); returns what was removed."""
    removed = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob(f"{TEMP_PREFIX}*")):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def checkpoint_architecture_problem(
    payload: Mapping[str, Any],
    path: str | os.PathLike[str],
    arch: str,
    arch_args: Mapping[str, Any],
) -> str | None:
    """Why the Lightning checkpoint ``payload`` (read from ``path`` by
    ``panet.checkpoints.training.read_training_checkpoint``) cannot continue training network
    ``arch`` with ``arch_args`` (None when it can, or when the file does not say what it
    holds)."""
    saved_arch = payload.get("arch")
    if saved_arch is None:
        return None
    saved, wanted = _plain(payload.get("arch_args") or {}), _plain(arch_args)
    differing = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
    if saved_arch == arch and not differing:
        return None
    holds = ", ".join(f"{k}={saved.get(k)!r}" for k in differing)
    builds = ", ".join(f"{k}={wanted.get(k)!r}" for k in differing)
    return (
        f"ckpt_path={path} holds a {saved_arch!r} network{f' ({holds})' if holds else ''}, but "
        f"the config builds {arch!r}{f' ({builds})' if builds else ''}: choose the model "
        f"config that matches the file, or another checkpoint"
    )


def _plain(value: Any) -> Any:
    """Nested dicts with lists for tuples, so saved and configured arguments compare equal."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def check_checkpoint_architecture(
    payload: Mapping[str, Any],
    path: str | os.PathLike[str],
    arch: str,
    arch_args: Mapping[str, Any],
) -> None:
    problem = checkpoint_architecture_problem(payload, path, arch, arch_args)
    if problem:
        raise ConfigError(problem)


__all__ = [
    "CHECKPOINTS",
    "MAY_CHANGE_ON_RESUME",
    "SAVED_CONFIG",
    "changed_keys",
    "check_checkpoint_architecture",
    "check_resume_config",
    "check_writable",
    "checkpoint_architecture_problem",
    "config_change_problem",
    "flatten",
    "may_change",
    "remove_stale_temporaries",
]
