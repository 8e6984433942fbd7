"""Checks of a composed run configuration, run before any data is read or network is built.

Hydra already rejects unknown group choices (``task=foo``); these checks catch values that
compose fine but would fail minutes later or silently mean something else, and say what to
change. They read the plain config (``OmegaConf.to_container(cfg, resolve=True)``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

from panet.attention.budget import check_budget_mb
from panet.attention.pyramid import IMPLEMENTATIONS
from panet.models.positions import positions_problem
from panet.tasks import TASK_CHANNELS

SR_SCALES: tuple[int, ...] = (2, 3, 4)
#: Networks whose tail upsamples: only meaningful for super-resolution.
UPSAMPLING_TARGETS: tuple[str, ...] = (
    "panet.models.EDSR",
    "panet.models.PAEDSR",
    "panet.models.CSNLN",
)
BICUBIC_TARGET = "panet.models.Bicubic"
BASELINE_TARGETS: tuple[str, ...] = ("panet.models.Identity", BICUBIC_TARGET)


class ConfigError(ValueError):
    """A composed configuration with an invalid value; the message names the key to change."""


def check_pyramid(pyramid: Mapping[str, Any]) -> None:
    """``pyramid.*``: levels 1..10, scales in (0, 1], odd patch size, known positions."""
    levels, scales = pyramid.get("levels"), pyramid.get("scales")
    if scales is None:
        if not isinstance(levels, int) or isinstance(levels, bool) or not 1 <= levels <= 10:
            raise ConfigError(f"pyramid.levels must be an integer in 1..10; got {levels!r}")
    else:
        if not isinstance(scales, Sequence) or isinstance(scales, str) or not scales:
            raise ConfigError(f"pyramid.scales must be a non-empty list or null; got {scales!r}")
        bad = [s for s in scales if not isinstance(s, int | float) or not 0 < s <= 1]
        if bad:
            raise ConfigError(
                f"pyramid.scales must all lie in (0, 1]; got {list(scales)} (bad: {bad})"
            )
    patch = pyramid.get("patch_size")
    if not isinstance(patch, int) or isinstance(patch, bool) or patch < 1 or patch % 2 == 0:
        raise ConfigError(f"pyramid.patch_size must be an odd integer >= 1; got {patch!r}")
    softmax_scale = pyramid.get("softmax_scale")
    if not isinstance(softmax_scale, int | float) or softmax_scale <= 0:
        raise ConfigError(f"pyramid.softmax_scale must be > 0; got {softmax_scale!r}")
    positions = pyramid.get("positions")
    if isinstance(positions, str) or not isinstance(positions, Sequence):
        raise ConfigError(
            f"pyramid.positions must be a list, e.g. [mid] or [pre,mid,post]; got {positions!r}"
        )
    problem = positions_problem(positions)
    if problem:
        raise ConfigError(f"pyramid.positions {problem}")
    if pyramid.get("impl") not in IMPLEMENTATIONS:
        raise ConfigError(
            f"pyramid.impl must be one of {sorted(IMPLEMENTATIONS)}; got {pyramid.get('impl')!r}"
        )
    if pyramid.get("memory_budget_mb") is not None:
        try:
            check_budget_mb(pyramid["memory_budget_mb"])
        except ValueError as error:
            raise ConfigError(str(error)) from None


def check_task(task: Mapping[str, Any], degradation: Mapping[str, Any]) -> None:
    """Task/degradation agreement: SR scale 2/3/4; restoration tasks do not resize; channels and
    colour as ``panet.tasks.TASK_CHANNELS`` says."""
    scale = degradation.get("scale", 1)
    if task["name"] == "sr":
        if scale not in SR_SCALES:
            raise ConfigError(
                f"degradation.scale must be one of {SR_SCALES} for task=sr; got {scale!r}"
            )
    elif scale != 1:
        raise ConfigError(
            f"task={task['name']} restores at the input size but degradation has scale {scale}; "
            "use task=sr for bicubic downscaling"
        )
    if task["name"] not in TASK_CHANNELS:
        raise ConfigError(f"task.name must be one of {sorted(TASK_CHANNELS)}; got {task['name']!r}")
    expected = TASK_CHANNELS[task["name"]]
    if task.get("n_colors") != expected:
        raise ConfigError(
            f"task={task['name']} feeds networks {expected}-channel images; task.n_colors must be "
            f"{expected}, got {task.get('n_colors')!r}"
        )
    colour = "y" if expected == 1 else "rgb"
    if task.get("colour") != colour:
        raise ConfigError(
            f"task={task['name']} works on {colour!r} images; task.colour must be {colour!r}, got "
            f"{task.get('colour')!r}"
        )


def check_model(model: Mapping[str, Any], task: Mapping[str, Any], *, training: bool) -> None:
    """Model/task agreement: upsampling networks only for SR, baselines only for evaluation."""
    target = model.get("_target_", "")
    if target in BASELINE_TARGETS and training:
        raise ConfigError(
            f"model {target} has no parameters to train; use it with evaluate.py "
            "(e.g. python evaluate.py model=identity)"
        )
    if target == BICUBIC_TARGET and task["name"] != "sr":
        raise ConfigError(f"model=bicubic upscales: it needs task=sr, not task={task['name']}")
    if target in UPSAMPLING_TARGETS and task["name"] != "sr":
        raise ConfigError(
            f"model {target} upsamples (EDSR family) and needs task=sr; for task={task['name']} "
            "use model=panet, panet_s, resnet or nonlocal"
        )
    if target not in UPSAMPLING_TARGETS + BASELINE_TARGETS and task["name"] == "sr":
        raise ConfigError(
            f"task=sr needs an upsampling network (model=pa_edsr, edsr, edsr_baseline, csnln) or "
            f"model=bicubic; got {target}"
        )
    for key in ("n_feats", "n_resblocks"):
        value = model.get(key)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"model.{key} must be a positive integer; got {value!r}")


def check_training(cfg: Mapping[str, Any]) -> None:
    """Training schedule and data sizes."""
    trainer, data = cfg["trainer"], cfg["data"]
    max_steps = trainer.get("max_steps", -1)
    if not trainer.get("fast_dev_run") and (not isinstance(max_steps, int) or max_steps < 1):
        raise ConfigError(f"trainer.max_steps must be a positive integer; got {max_steps!r}")
    scheduler = cfg.get("scheduler") or {}
    milestones = list(scheduler.get("milestones", ()))
    if milestones != sorted(milestones) or any(m < 1 for m in milestones):
        raise ConfigError(
            f"scheduler.milestones must be increasing positive steps; got {milestones}"
        )
    lr = (cfg.get("optimizer") or {}).get("lr")
    if lr is not None and not lr > 0:
        raise ConfigError(f"optimizer.lr must be > 0; got {lr!r}")
    for key in ("batch_size", "patch_size", "samples_per_epoch"):
        value = data.get(key)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"data.{key} must be a positive integer; got {value!r}")
    if not cfg.get("monitor", "").startswith("val/"):
        raise ConfigError(
            f"monitor must be a validation metric 'val/<set>/<metric>'; got {cfg.get('monitor')!r}"
        )
    val_sets = list(data.get("val_sets") or ())
    monitored_set = cfg["monitor"].split("/")[1]
    if monitored_set not in val_sets:
        raise ConfigError(
            f"monitor {cfg['monitor']!r} names set {monitored_set!r}, which is not among "
            f"data.val_sets={val_sets}"
        )


def model_input_multiple(model: Mapping[str, Any]) -> int:
    """The size multiple the configured network needs (its class's ``input_multiple``, e.g. 8
    for MPRNet; 1 when it has none). Importing the class builds nothing."""
    target = model.get("_target_")
    if not isinstance(target, str) or "." not in target:
        return 1
    module_name, _, name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"model._target_={target!r} cannot be imported: {error}") from error
    multiple_for = getattr(cls, "input_multiple_for", None)
    if callable(multiple_for):  # depends on the arguments (CSNLN: its up-factor)
        multiple = multiple_for(**{k: v for k, v in model.items() if k != "_target_"})
    else:
        multiple = getattr(cls, "input_multiple", 1)
    return multiple if isinstance(multiple, int) and multiple >= 1 else 1


def check_patch_fits_model(model: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """Training patches (``data.patch_size``, the network's input side) must be a multiple of
    the network's ``input_multiple``: patches are not padded."""
    multiple = model_input_multiple(model)
    patch = data.get("patch_size")
    if multiple > 1 and isinstance(patch, int) and patch % multiple:
        lower, upper = patch - patch % multiple, patch + multiple - patch % multiple
        suggestion = f"{lower} or {upper}" if lower > 0 else str(upper)
        raise ConfigError(
            f"data.patch_size={patch} is not a multiple of {multiple}, which "
            f"{model['_target_']} needs (its input_multiple); use e.g. data.patch_size={suggestion}"
        )


def check_scheduler(scheduler: Mapping[str, Any]) -> None:
    """Warm-up schedules: 0 <= warmup_steps < total_steps."""
    warmup, total = scheduler.get("warmup_steps"), scheduler.get("total_steps")
    if warmup is None or total is None:
        return
    if not (isinstance(warmup, int) and isinstance(total, int) and 0 <= warmup < total):
        raise ConfigError(
            f"scheduler.warmup_steps must be an integer in [0, scheduler.total_steps); got "
            f"{warmup!r} and total_steps={total!r}"
        )


def check_run_config(cfg: Mapping[str, Any], *, training: bool) -> None:
    """All checks of a resolved train/evaluate configuration (plain dicts)."""
    check_task(cfg["task"], cfg["degradation"])
    if "pyramid" in cfg:
        check_pyramid(cfg["pyramid"])
    check_model(cfg["model"], cfg["task"], training=training)
    if training:
        check_training(cfg)
        check_patch_fits_model(cfg["model"], cfg["data"])
        check_scheduler(cfg.get("scheduler") or {})


__all__ = [
    "ConfigError",
    "check_model",
    "check_patch_fits_model",
    "check_pyramid",
    "check_run_config",
    "check_scheduler",
    "check_task",
    "check_training",
]
