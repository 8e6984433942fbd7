"""Model cost where people look: Lightning's model summary, every logger and ``metrics.json``.

At setup (before Lightning prints its model summary) the callback gives the LightningModule an
``example_input_array``, one task-sized patch ``[1, C, p, p]`` in the network's pixel range, so
the summary shows real input/output sizes and FLOPs instead of ``Total FLOPs: 0``. It counts the
network's parameters and FLOPs on that patch (``panet.models.cost``) and logs them to every
logger: as hyper-parameters ``model_cost/{params_total,params_trainable,flops_per_patch,
input_shape}`` (W&B config, TensorBoard hparams, the CSV logger's hparams.yaml) and as the
scalars ``cost/params_total``, ``cost/params_trainable`` and ``cost/gflops_per_patch``.
``train.py`` writes the same numbers into ``metrics.json`` under ``meta.cost``.

The module must define ``forward`` (the summary calls it with the example input) and hold its
network in ``network_attr``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from torch import nn

from callbacks.network import module_network
from panet.models.cost import ModelCost, example_input, model_cost


class ModelCostLogger(Callback):
    """Sets the summary's example input and logs parameters and FLOPs per patch.

    Args:
        patch_size: side of the network's input patch (``data.patch_size``: the LQ patch).
        channels: input channels (``task.n_colors``).
        network_attr: attribute of the LightningModule holding the network.
    """

    def __init__(self, patch_size: int, channels: int, network_attr: str = "net") -> None:
        super().__init__()
        if patch_size < 1 or channels < 1:
            raise ValueError(
                f"ModelCostLogger: patch_size and channels must be positive, got {patch_size} "
                f"and {channels}"
            )
        self.patch_size = int(patch_size)
        self.channels = int(channels)
        self.network_attr = network_attr
        self.cost: ModelCost | None = None

    def _network(self, pl_module: pl.LightningModule) -> nn.Module:
        return module_network(
            pl_module, self.network_attr, "ModelCostLogger", "callbacks.model_cost.network_attr"
        )

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        net = self._network(pl_module)
        pixel_range = float(getattr(net, "pixel_range", 255.0))
        pl_module.example_input_array = example_input(self.channels, self.patch_size, pixel_range)
        if not trainer.is_global_zero:
            return
        self.cost = model_cost(net, self.channels, self.patch_size)
        # Lightning's FLOPs column misses the fast attention kernels; this count includes them
        print(describe(self.cost))
        for logger in trainer.loggers:
            logger.log_hyperparams({"model_cost": self.cost.as_dict()})
            logger.log_metrics(cost_scalars(self.cost), step=trainer.global_step)


def describe(cost: ModelCost) -> str:
    """One line for the console, e.g. ``model cost: 5,957,255 parameters (...)``."""
    side = "x".join(str(v) for v in cost.input_shape[-2:])
    return (
        f"model cost: {cost.params_total:,} parameters ({cost.params_trainable:,} trainable), "
        f"{cost.flops_per_patch / 1e9:.3f} GFLOPs per {side} patch (attention included)"
    )


def cost_scalars(cost: ModelCost) -> dict[str, float]:
    """The logged scalars (GFLOPs keep the number readable on dashboards)."""
    return {
        "cost/params_total": float(cost.params_total),
        "cost/params_trainable": float(cost.params_trainable),
        "cost/gflops_per_patch": cost.flops_per_patch / 1e9,
    }


def cost_from(callbacks: Iterable[Any]) -> dict[str, Any] | None:
    """``metrics.json``'s ``meta.cost``: the cost measured by a ``ModelCostLogger`` among
    ``callbacks`` (None without one, or on a rank that did not measure)."""
    for callback in callbacks:
        if isinstance(callback, ModelCostLogger) and callback.cost is not None:
            return callback.cost.as_dict()
    return None
