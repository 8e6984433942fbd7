"""Callbacks that send the training process a real SIGTERM in the middle of long work, for the
prompt-stop tests (tests/test_prompt_stop.py)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from panet.stop import check_stop


class SlowValidationThenSigterm(pl.Callback):
    """Every network call of the first validation after training started sleeps ``delay``
    seconds, and the ``kill_at``-th call sends SIGTERM, writing the moment (``time.time()``) to
    ``stamp`` first."""

    def __init__(self, delay: float, kill_at: int, stamp: str) -> None:
        self.delay, self.kill_at, self.stamp = float(delay), int(kill_at), Path(stamp)
        self.calls = 0
        self.done = False

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.global_step == 0 or self.done:
            return
        self.done = True
        net = pl_module.net
        forward = net.forward

        def slow(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == self.kill_at:
                self.stamp.write_text(repr(time.time()))
                os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(self.delay)
            return forward(*args, **kwargs)

        net.forward = slow


class SigtermInsideTrainingStep(pl.Callback):
    """SIGTERM arrives in the middle of training step ``step`` (1-based): the network's forward
    sends it and then reaches a stop point (``panet.stop.check_stop``), as a long attention
    call does between its blocks."""

    def __init__(self, step: int) -> None:
        self.step = int(step)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *_: Any
    ) -> None:
        if trainer.global_step != self.step - 1:
            return
        net = pl_module.net
        forward = net.forward

        def interrupted(*args: Any, **kwargs: Any) -> Any:
            del net.forward  # once
            os.kill(os.getpid(), signal.SIGTERM)
            check_stop()
            return forward(*args, **kwargs)

        net.forward = interrupted
