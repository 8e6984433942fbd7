"""Checkpoints from configs/callbacks/default.yaml with the AtomicCheckpointIO plugin: best and
last files, periodic last.ckpt, and a SIGTERM mid-epoch that resumes at the right step."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from callbacks.atomic_checkpoint_io import AtomicCheckpointIO
from callbacks.last_checkpoint import LastCheckpoint
from panet.atomic import TEMP_PREFIX
from tests.callbacks.configured import build_callbacks, callbacks_config
from tests.callbacks.tiny_lightning import TinyData, TinyModule

CKPT_CALLBACKS = ("model_checkpoint", "last_checkpoint")


def make_trainer(
    tmp_path: Path, max_steps: int, extra: list[pl.Callback], every: int
) -> pl.Trainer:
    cfg = callbacks_config(tmp_path)
    callbacks = build_callbacks(cfg, CKPT_CALLBACKS, last_checkpoint__every_n_train_steps=every)
    return pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=max_steps,
        logger=False,
        callbacks=[*callbacks, *extra],
        plugins=[AtomicCheckpointIO()],
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )


def load_step(path: Path) -> int:
    return torch.load(path, weights_only=False, map_location="cpu")["global_step"]


class StepRecorder(pl.Callback):
    """Remembers the global step at every training batch start."""

    def __init__(self) -> None:
        self.steps: list[int] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: ANN001
        self.steps.append(trainer.global_step)


class TermAt(pl.Callback):
    """Sends this process SIGTERM after training step ``step`` (as SLURM/kill would)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.slow
def test_best_and_periodic_last_checkpoints(tmp_path: Path) -> None:
    # 4 training batches per epoch, validation at every epoch end; 6 steps -> 1.5 epochs
    trainer = make_trainer(tmp_path, max_steps=6, extra=[], every=5)
    trainer.fit(TinyModule(), datamodule=TinyData(train_count=8))
    ckpts = tmp_path / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["best.ckpt", "last.ckpt"]
    best = trainer.checkpoint_callback
    assert Path(best.best_model_path) == ckpts / "best.ckpt"
    assert best.monitor == "val/toyA/psnr" and best.mode == "max"
    # after the validation at step 4 and the periodic save at step 5, the step that reaches
    # max_steps wrote last.ckpt: a finished run's last.ckpt is its final state
    assert load_step(ckpts / "last.ckpt") == 6
    assert load_step(ckpts / "best.ckpt") == 4
    assert not list(ckpts.glob(TEMP_PREFIX + "*"))


@pytest.mark.slow
def test_last_checkpoint_alone_writes_last_after_validation(tmp_path: Path) -> None:
    # one epoch of 4 steps ending in validation, no periodic save due
    trainer = make_trainer(tmp_path, max_steps=4, extra=[], every=100)
    trainer.fit(TinyModule(), datamodule=TinyData(train_count=8))
    ckpts = tmp_path / "checkpoints"
    assert load_step(ckpts / "last.ckpt") == 4
    best, last = (cb for cb in trainer.callbacks if isinstance(cb, ModelCheckpoint))
    assert isinstance(last, LastCheckpoint) and not isinstance(best, LastCheckpoint)
    assert best.last_model_path == ""  # the best-checkpoint callback never wrote last.ckpt
    assert Path(last.best_model_path) == ckpts / "last.ckpt"


@pytest.mark.slow
def test_sigterm_mid_epoch_saves_last_and_resumes_at_that_step(tmp_path: Path) -> None:
    data = TinyData(train_count=16)  # 8 batches per epoch: step 3 is mid-epoch
    trainer = make_trainer(tmp_path, max_steps=10, extra=[TermAt(3)], every=100)
    with pytest.raises(SystemExit):
        trainer.fit(TinyModule(), datamodule=data)
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert load_step(last) == 3
    assert signal.getsignal(signal.SIGTERM) is not None  # Lightning restored the handler

    recorder = StepRecorder()
    resumed = make_trainer(tmp_path, max_steps=10, extra=[recorder], every=100)
    resumed.fit(TinyModule(), datamodule=data, ckpt_path="last")
    assert recorder.steps[0] == 3
    assert resumed.global_step == 10
    assert recorder.steps == list(range(3, 10))


@pytest.mark.slow
def test_no_checkpoint_from_an_exception_before_the_first_step(tmp_path: Path) -> None:
    class Boom(pl.Callback):
        def on_train_start(self, trainer, pl_module) -> None:  # noqa: ANN001
            raise RuntimeError("crash before training")

    trainer = make_trainer(tmp_path, max_steps=4, extra=[Boom()], every=100)
    with pytest.raises(RuntimeError, match="crash before training"):
        trainer.fit(TinyModule(), datamodule=TinyData())
    assert not (tmp_path / "checkpoints" / "last.ckpt").exists()
