"""Learning-rate schedules stepped once per optimizer step (``interval: step``).

``WarmupCosineLR`` is MPRNet's recipe in steps: the authors warm up linearly over 3 epochs
(``lr = base * epoch / 3``: 6.7e-5, 1.3e-4, 2e-4 for base 2e-4) and then decay with a cosine to
``min_lr`` (their GradualWarmupScheduler + CosineAnnealingLR, stepped per epoch). Here the
ramp rises every step and reaches the same values at the end of each warm-up epoch; the cosine
is the closed form, which agrees with the authors' recursive one to 2e-4 relative at every
epoch.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


class WarmupCosineLR(LRScheduler):
    """``base * (i + 1) / warmup_steps`` for the first ``warmup_steps`` steps ``i``, then
    ``min_lr + (base - min_lr) * (1 + cos(pi * t)) / 2`` with ``t`` going from 0 to 1 between
    step ``warmup_steps`` and ``total_steps``, then ``min_lr``.

    Args:
        optimizer: its groups' ``lr`` is the base (peak) rate.
        warmup_steps: steps of the linear ramp (0: start at the peak).
        total_steps: the step at which the cosine reaches ``min_lr`` (may exceed the training
            length: MPRNet's denoising cosine is 40 epochs longer than its training).
        min_lr: the final rate.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        warmup_steps: int,
        total_steps: int,
        min_lr: float = 1e-6,
        last_epoch: int = -1,
    ) -> None:
        if warmup_steps < 0 or total_steps <= warmup_steps:
            raise ValueError(
                f"WarmupCosineLR needs 0 <= warmup_steps < total_steps; got {warmup_steps}, "
                f"{total_steps}"
            )
        if min_lr < 0:
            raise ValueError(f"WarmupCosineLR min_lr must be >= 0; got {min_lr}")
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.min_lr = min_lr
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: int, base_lr: float) -> float:
        """The rate of optimizer step ``step`` (0-based) for a group whose peak is ``base_lr``."""
        if step < self.warmup_steps:
            return base_lr * (step + 1) / self.warmup_steps
        progress = min(step - self.warmup_steps, self.total_steps - self.warmup_steps)
        cosine = (1 + math.cos(math.pi * progress / (self.total_steps - self.warmup_steps))) / 2
        return self.min_lr + (base_lr - self.min_lr) * cosine

    def get_lr(self) -> list[float]:
        return [self.lr_at(self.last_epoch, float(base)) for base in self.base_lrs]
