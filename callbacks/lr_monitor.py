"""Learning-rate monitor that tolerates ``logger=none``.

Lightning's ``LearningRateMonitor`` refuses to start without a logger; a run with logging
switched off should still train, so this one simply stays silent then.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import LearningRateMonitor


class LearningRateLogger(LearningRateMonitor):
    """``LearningRateMonitor`` (logs ``lr-{Optimizer}`` per step or epoch) that does nothing
    when the trainer has no logger."""

    def on_train_start(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer.loggers:
            super().on_train_start(trainer, *args, **kwargs)

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer.loggers:
            super().on_train_batch_start(trainer, *args, **kwargs)

    def on_train_epoch_start(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer.loggers:
            super().on_train_epoch_start(trainer, *args, **kwargs)
