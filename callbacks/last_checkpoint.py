"""The one writer of ``checkpoints/last.ckpt``, the file a rerun of the same command resumes from.

Lightning's ``ModelCheckpoint`` saves either on a step interval or at the end of validation, not
both, which used to take two callbacks that both wrote ``last.ckpt`` (the best-checkpoint
callback through ``save_last``). ``LastCheckpoint`` owns the file alone: it saves every
``every_n_train_steps`` steps, at the end of every validation, at the step that reaches
``max_steps`` (so a finished run's last.ckpt is its final state, even when it ends between
saves and validations), and on an exception or SIGTERM once training has taken a step; never
twice for the same step. ``best.ckpt`` stays with the monitored ``ModelCheckpoint``. It never
writes weights that hold a NaN or an infinity: ``last.ckpt`` then keeps the last finite state.
"""

from __future__ import annotations

import os
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities import rank_zero_warn

LAST_NAME = "last"


class LastCheckpoint(ModelCheckpoint):
    """``{dirpath}/last.ckpt``: periodic, after every validation, and on exceptions.

    Args:
        dirpath: the run's checkpoint folder.
        every_n_train_steps: steps between periodic saves (what a killed job may lose at most;
            SIGTERM loses nothing).
        save_on_exception: save when training stops with an exception (SIGTERM included).
    """

    def __init__(
        self,
        dirpath: str | os.PathLike[str],
        every_n_train_steps: int = 500,
        save_on_exception: bool = True,
    ) -> None:
        super().__init__(
            dirpath=dirpath,
            filename=LAST_NAME,
            monitor=None,
            save_top_k=1,
            every_n_train_steps=every_n_train_steps,
            save_on_exception=save_on_exception,
            enable_version_counter=False,
        )

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # The parent only saves here without a step interval; skips fast_dev_run, sanity checks,
        # non-fit stages and a step that was already saved.
        if self._should_skip_saving_checkpoint(trainer):
            return
        self._save_topk_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        # A run that reaches max_steps between two periodic saves and without a validation at
        # its last step would otherwise leave last.ckpt behind its final weights, and a rerun
        # with more steps would train the difference again. Saved here, where the periodic
        # saves are, because a state taken after the loop has wound down (on_train_end) does
        # not resume bit for bit.
        if 0 < trainer.max_steps <= trainer.global_step and not (
            self._should_skip_saving_checkpoint(trainer)
        ):
            self._save_topk_checkpoint(trainer, self._monitor_candidates(trainer))

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        bad = _non_finite_parameters(trainer.lightning_module)
        if bad:
            rank_zero_warn(
                f"not writing {filepath} at step {trainer.global_step}: the weights hold NaN or "
                f"infinite values ({', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}); it "
                f"keeps the last finite state"
            )
            return
        super()._save_checkpoint(trainer, filepath)


def _non_finite_parameters(module: torch.nn.Module) -> list[str]:
    return [n for n, p in module.named_parameters() if not bool(torch.isfinite(p).all())]
