"""MixUp of training pairs (Zhang et al. 2018), as MPRNet's denoising recipe uses it from its
6th epoch on: each sample's degraded and clean images are mixed with those of another sample
of the batch, with one weight ``lam ~ Beta(alpha, alpha)`` per sample for both.

A callback rather than a model option: it rewrites the batch before ``training_step`` sees it,
so any network and loss can use it. Its randomness is a pure function of (seed, step, rank):
no state to checkpoint, a resumed run mixes exactly as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor


def mix_pairs(lq: Tensor, gt: Tensor, lam: Tensor, partner: Tensor) -> tuple[Tensor, Tensor]:
    """``lam * x + (1 - lam) * x[partner]`` for ``x`` = ``lq`` and ``gt`` (``[B, C, H, W]``,
    any range); ``lam``: ``[B]`` weights, ``partner``: ``[B]`` indices."""
    weight = lam.to(lq.dtype).view(-1, 1, 1, 1)
    return (
        weight * lq + (1 - weight) * lq[partner],
        weight.to(gt.dtype) * gt + (1 - weight.to(gt.dtype)) * gt[partner],
    )


class MixUp(pl.Callback):
    """Mixes every training batch from optimizer step ``start_step`` on.

    Args:
        alpha: the Beta distribution's parameters (MPRNet: 0.6).
        start_step: the first step that is mixed (MPRNet: after 5 epochs).
        seed: with the step and the process rank, fixes the weights and partners.
    """

    def __init__(self, alpha: float = 0.6, start_step: int = 0, seed: int = 0) -> None:
        super().__init__()
        if not alpha > 0 or start_step < 0:
            raise ValueError(
                f"MixUp needs alpha > 0 and start_step >= 0; got {alpha}, {start_step}"
            )
        self.alpha = alpha
        self.start_step = start_step
        self.seed = seed

    def draw(self, batch_size: int, step: int, rank: int) -> tuple[Tensor, Tensor]:
        """The weights ``[B]`` and partner indices ``[B]`` of one step on one process."""
        rng = np.random.default_rng((self.seed, step, rank))
        lam = torch.from_numpy(rng.beta(self.alpha, self.alpha, size=batch_size))
        return lam, torch.from_numpy(rng.permutation(batch_size))

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if step < self.start_step:
            return
        lam, partner = self.draw(batch["lq"].shape[0], step, trainer.global_rank)
        device = batch["lq"].device
        batch["lq"], batch["gt"] = mix_pairs(
            batch["lq"], batch["gt"], lam.to(device), partner.to(device)
        )
