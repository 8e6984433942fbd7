"""A callback that sends the training process a real SIGTERM at a given step (for resume tests)."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytorch_lightning as pl


class SigtermAtStep(pl.Callback):
    """``os.kill(own pid, SIGTERM)`` at the end of training step ``step`` (1-based)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)
