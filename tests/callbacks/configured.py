"""The repo's callback configs, composed the way train.py does it, for the callback tests."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import Callback

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def callbacks_config(output_dir: Path, monitor: str = "val/toyA/psnr") -> DictConfig:
    """``configs/callbacks/default.yaml`` under a root providing the keys it interpolates
    (``paths.output_dir``, ``monitor``, ``monitor_mode``, ``data.patch_size``, ``task.n_colors``,
    as train.yaml does)."""
    root = OmegaConf.create(
        {
            "paths": {"output_dir": str(output_dir)},
            "monitor": monitor,
            "monitor_mode": "max",
            "data": {"patch_size": 16},
            "task": {"n_colors": 3},
        }
    )
    root.callbacks = OmegaConf.load(CONFIGS / "callbacks" / "default.yaml")
    return root


def build_callbacks(cfg: DictConfig, names: tuple[str, ...], **overrides: object) -> list[Callback]:
    """Instantiate the named entries of ``cfg.callbacks``; ``overrides`` are dotted keys
    below ``callbacks`` (e.g. ``last_checkpoint__every_n_train_steps=2``)."""
    for dotted, value in overrides.items():
        OmegaConf.update(cfg.callbacks, dotted.replace("__", "."), value)
    return [hydra.utils.instantiate(cfg.callbacks[name]) for name in names]
