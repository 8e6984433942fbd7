"""The LightningModule: a thin wrapper that trains a restoration network and scores it per set.

Training: ``pred = net(lq * s)``, ``loss(pred, gt * s)`` with ``s = net.pixel_range / 255`` (the
loss works in the network's own pixel range, as in the authors' code). A network that returns
several outputs (MPRNet's stages, final first) is trained on the sum of the loss over all of
them (deep supervision) and evaluated on the first. Validation and test: each
whole image goes through ``restore`` (range conversion, optional tiling/self-ensemble) and the
task's ``Protocol`` scores it; the per-image scores are accumulated in torchmetrics objects and
reduced across processes once, at the epoch end (no per-step collectives, so DDP ranks may hold
different numbers of images). Logged per set: ``{stage}/{set}/psnr``, ``ssim``, the degraded
input's ``psnr_input``/``ssim_input`` (bicubic-upscaled for SR) and ``n_images``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, SumMetric

from panet.evaluation.protocols import Protocol
from panet.evaluation.scoring import SCORE_KEYS, ImageScorer, Restore, restore_and_score
from panet.losses import loss_over_outputs
from panet.training.finite import check_finite_loss

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]

#: Per-image quantities averaged per set.
STAGES: tuple[str, ...] = ("val", "test")


class RestorationModule(pl.LightningModule):
    """Train ``net`` with ``loss``; score validation/test sets with ``protocol``.

    Args:
        net: network exposing ``pixel_range``, ``scale``, ``arch`` and ``arch_args``; maps
            ``[B, C, h, w]`` in its pixel range to ``[B, C, s*h, s*w]``.
        loss: criterion on network-range tensors (``configs/loss/``; L1 in PANet), applied to
            each output of a multi-output network and summed.
        optimizer: partial that takes the parameters (e.g. ``Adam`` with lr set).
        scheduler: partial that takes the optimizer, stepped every training step; or None.
        protocol: the task's scoring protocol.
        restore: ``restore(net, lq) -> pred``: evaluation inference on 0–255 batches
            (a ``panet.inference.Inference``).
    """

    def __init__(
        self,
        *,
        net: nn.Module,
        loss: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None,
        protocol: Protocol,
        restore: Restore,
    ) -> None:
        super().__init__()
        for attribute in ("pixel_range", "scale", "arch", "arch_args"):
            if not hasattr(net, attribute):
                raise ValueError(
                    f"{type(net).__name__} lacks `{attribute}`: networks must expose "
                    "pixel_range, scale, arch and arch_args (see panet/models/registry.py)"
                )
        self.net = net
        self.loss = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.protocol = protocol
        self.restore = restore
        self.set_names: dict[str, tuple[str, ...]] = {}
        self.scores = nn.ModuleDict()
        self.image_scorer = ImageScorer(protocol, int(net.scale))

    # ---------------------------------------------------------------- setup
    def setup(self, stage: str) -> None:
        """Create one metric set per validation/test set named by the datamodule."""
        datamodule = self.trainer.datamodule
        for prefix, attribute in (("val", "val_set_names"), ("test", "test_set_names")):
            names = tuple(getattr(datamodule, attribute, ()) or ())
            self.set_names[prefix] = names
            for name in names:
                key = self._metric_key(prefix, name)
                if key not in self.scores:
                    metrics = {k: MeanMetric(nan_strategy="error") for k in SCORE_KEYS}
                    metrics["n_images"] = SumMetric()
                    self.scores[key] = nn.ModuleDict(metrics)

    @staticmethod
    def _metric_key(stage: str, set_name: str) -> str:
        # ModuleDict keys may not contain dots.
        return f"{stage}|{set_name}".replace(".", "_")

    # ---------------------------------------------------------------- training
    def forward(self, lq: Tensor) -> Tensor:
        """``net(lq)``, ``lq`` in the network's pixel range (what the model summary runs on
        ``example_input_array``, set by ``callbacks.model_cost``)."""
        return self.net(lq)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """``batch["lq"]``/``batch["gt"]``: [B, C, h, w] / [B, C, s*h, s*w] float 0–255."""
        s = self.net.pixel_range / 255.0
        outputs = self.net(batch["lq"] * s)
        loss = loss_over_outputs(self.loss, outputs, batch["gt"] * s)
        check_finite_loss(loss, self.global_step + 1)  # before backward: weights stay finite
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["lq"].shape[0])
        return loss

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return {"optimizer": optimizer}
        scheduler = self.scheduler_factory(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1},
        }

    # ---------------------------------------------------------------- evaluation
    def validation_step(
        self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0
    ) -> dict[str, Tensor]:
        """Returns ``{"pred": [B, C, s*h, s*w] float 0-255}`` for the image-panel callback."""
        return {"pred": self._score_batch("val", batch, dataloader_idx)}

    def test_step(
        self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0
    ) -> dict[str, Tensor]:
        return {"pred": self._score_batch("test", batch, dataloader_idx)}

    def on_validation_epoch_end(self) -> None:
        self._log_set_means("val")

    def on_test_epoch_end(self) -> None:
        self._log_set_means("test")

    def _score_batch(self, stage: str, batch: dict[str, Any], dataloader_idx: int) -> Tensor:
        """Score every image of an evaluation batch (whole images, 0–255) into its set;
        returns the restored batch (0–255, not quantized)."""
        set_name = self._set_name(stage, dataloader_idx)
        metrics = self.scores[self._metric_key(stage, set_name)]
        pred, scores = restore_and_score(self.net, self.restore, self.image_scorer, set_name, batch)
        for image in scores:
            for key, value in image.items():
                metrics[key].update(value)
            metrics["n_images"].update(1.0)
        return pred

    def _set_name(self, stage: str, dataloader_idx: int) -> str:
        names = self.set_names.get(stage, ())
        if dataloader_idx >= len(names):
            raise RuntimeError(
                f"{stage} loader {dataloader_idx} has no set name; the datamodule must expose "
                f"`{stage}_set_names` with one name per loader (got {names})"
            )
        return names[dataloader_idx]

    def _log_set_means(self, stage: str) -> None:
        """Reduce each set's metrics across processes (once) and log them on every rank."""
        for name in self.set_names.get(stage, ()):
            metrics = self.scores[self._metric_key(stage, name)]
            n_images = metrics["n_images"].compute()
            if n_images.item() == 0:  # e.g. limit_val_batches=0 or sanity checking skipped
                for metric in metrics.values():
                    metric.reset()
                continue
            values = {k: metrics[k].compute() for k in SCORE_KEYS}
            values["n_images"] = n_images
            for key, value in values.items():
                # Already reduced across ranks by torchmetrics: identical on every rank.
                self.log(
                    f"{stage}/{name}/{key}",
                    value.float(),
                    sync_dist=False,
                    add_dataloader_idx=False,
                    prog_bar=key == "psnr",
                )
            for metric in metrics.values():
                metric.reset()

    # ---------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the architecture (plain types) and the RNG states beside Lightning's state."""
        checkpoint["arch"] = str(self.net.arch)
        checkpoint["arch_args"] = _plain(dict(self.net.arch_args))
        checkpoint["rng_states"] = _rng_states(self.device)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "rng_states" in checkpoint:
            _set_rng_states(checkpoint["rng_states"], self.device)


def _plain(value: Any) -> Any:
    """``value`` with OmegaConf containers turned into dicts/lists (weights_only-loadable)."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


def _rng_states(device: torch.device | None = None) -> dict[str, Any]:
    """Python, NumPy and torch CPU generator states as plain types and tensors, plus the CUDA
    generator of ``device`` when it is a GPU (only this process's own device: reading every
    GPU's state would create a CUDA context on each of them from every DDP process)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
    }
    if device is not None and device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def _set_rng_states(states: dict[str, Any], device: torch.device | None = None) -> None:
    """Restore what ``_rng_states`` saved; a CUDA state is restored only onto a GPU (a
    checkpoint moved between a GPU and a CPU machine resumes with the other states)."""
    random.setstate(states["python"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and device is not None and device.type == "cuda":
        torch.cuda.set_rng_state(states["cuda"], device)


__all__ = ["SCORE_KEYS", "RestorationModule"]
