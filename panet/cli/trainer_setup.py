"""Building the Lightning ``Trainer`` from the ``trainer`` config group.

The group holds the ``Trainer``'s own arguments plus one key of ours, ``tf32``: TensorFloat-32
for CUDA matmuls and cuDNN convolutions (``panet.inference.devices.set_tf32``), switched
before the Trainer exists so that every step, validation included, runs under it.

``${mixed_precision:}`` (used by ``trainer=gpu`` / ``trainer=ddp``) is the mixed precision a
machine supports: ``bf16-mixed`` where CUDA supports bfloat16 (Ampere and newer) and on CPUs
(CPU autocast is bfloat16 only), ``16-mixed`` on older GPUs. Validation and test run in
float32 under every setting (``panet.inference.restore`` leaves autocast off), so scores do not
depend on the training precision.
"""

from __future__ import annotations

from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from panet.inference.devices import set_tf32

#: Keys of the trainer group that are not ``Trainer`` arguments.
OUR_KEYS: tuple[str, ...] = ("tf32",)


def mixed_precision() -> str:
    """``bf16-mixed`` where bfloat16 autocast works (CPU, CUDA >= Ampere), else ``16-mixed``."""
    if torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
        return "16-mixed"
    return "bf16-mixed"


def register_resolvers() -> None:
    """Register ``${mixed_precision:}`` (idempotent)."""
    if not OmegaConf.has_resolver("mixed_precision"):
        OmegaConf.register_new_resolver("mixed_precision", mixed_precision)


def trainer_arguments(trainer_cfg: DictConfig) -> tuple[DictConfig, bool]:
    """The ``Trainer`` arguments of the group (our keys removed) and its ``tf32`` switch."""
    arguments = trainer_cfg.copy()  # keeps its parent, so interpolations still resolve
    tf32 = False
    with open_dict(arguments):
        for key in OUR_KEYS:
            if key in arguments:
                tf32 = bool(arguments.pop(key))
    return arguments, tf32


def find_unused_for(arguments: DictConfig, network: Any) -> None:
    """Make a DDP strategy look for unused parameters when ``network`` says that a step
    leaves some without gradient (``trains_every_parameter`` False, e.g. CSNLN at depth 1):
    without it DDP fails on the second step."""
    if network is None or getattr(network, "trains_every_parameter", True):
        return
    strategy = arguments.get("strategy")
    if isinstance(strategy, DictConfig) and "find_unused_parameters" in strategy:
        with open_dict(arguments):
            arguments.strategy.find_unused_parameters = True


def build_trainer(trainer_cfg: DictConfig, network: Any = None, **kwargs: Any) -> Any:
    """Switch TF32 as configured and instantiate the ``Trainer`` (``kwargs``: callbacks, ...);
    ``network``: the one to be trained (see ``find_unused_for``)."""
    arguments, tf32 = trainer_arguments(trainer_cfg)
    find_unused_for(arguments, network)
    set_tf32(tf32)
    return instantiate(arguments, **kwargs)
