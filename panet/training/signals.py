"""A run stopped by SIGTERM: every process stops at the same step, and exits 128 + 15.

``StopTogetherOnSigterm``: Lightning's own SIGTERM handling can hang a multi-process (DDP) run.
Its handler broadcasts a flag from inside the signal handler, i.e. a collective issued at
whatever point each process happens to be, and each process then checks its own flag at
points where the others may be elsewhere (its validation loop stops at a batch that the other
ranks, holding fewer images, never reach). A SIGTERM to every task of a SLURM job, what SLURM
sends before a requeue or at the time limit, then left rank 0 waiting in that broadcast and
rank 1 in the next step's collective, forever (seen in ``tests/test_slurm_ddp.py``). During
training this callback takes SIGTERM over: the handler only notes it; at the end of every
training batch, the same point on every rank, the processes agree (an all-reduce of one flag)
and all raise ``SIGTERMException`` together, after that step (a SIGTERM during validation is
honoured after the next step). Lightning then runs ``on_exception`` on every rank, where
``LastCheckpoint`` writes ``last.ckpt`` once.

``exit_nonzero_on_sigterm`` wraps training and testing. SIGTERM then also requests a stop
(``panet.stop``; ``StopTogetherOnSigterm``'s handler does too): in a single-process run the stop
points between network calls, tiles, images and attention blocks raise ``StopRequested``
within seconds, also in the middle of a slow validation; under DDP they are disarmed and the
ranks stop together as above. Either way Lightning's exception hook has ``LastCheckpoint``
write ``last.ckpt`` of the last finished training step, and the process exits with status 143
and a one-line note (a ``SystemExit`` without a code would exit 0, and a scheduler could not
tell a stopped run from a finished one).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from pytorch_lightning.utilities.exceptions import SIGTERMException

from panet.stop import SIGNAL_EXIT_BASE, StopRequested, request_stop, stop_on_signals


def signal_exit_status(signum: int) -> int:
    """The conventional exit status of a process ended by signal ``signum`` (SIGTERM: 143)."""
    return SIGNAL_EXIT_BASE + int(signum)


@contextmanager
def exit_nonzero_on_sigterm(step: Callable[[], int], *, stop_points: bool = True) -> Iterator[None]:
    """SIGTERM requests a stop (``panet.stop``; ``stop_points`` False disarms the stop points
    between network calls, for multi-process runs); Lightning's ``SIGTERMException`` and our
    ``StopRequested`` become ``SystemExit(143)`` with a one-line note. ``step()`` gives the
    step reached, for the note."""
    try:
        with stop_on_signals((signal.SIGTERM,), armed=stop_points):
            yield
    except (SIGTERMException, StopRequested):
        reached = step()
        saved = (
            "checkpoints/last.ckpt holds that step: rerun the same command to resume"
            if reached
            else "no training step had finished, so there is nothing to resume from"
        )
        print(f"training stopped by signal SIGTERM at step {reached}; {saved}", file=sys.stderr)
        raise SystemExit(signal_exit_status(signal.SIGTERM)) from None


class StopTogetherOnSigterm(pl.Callback):
    """SIGTERM during training stops every process at the end of the same batch (see the
    module docstring). The handler is installed when training starts, over Lightning's, which
    Lightning restores with the ones from before ``fit`` when it tears down."""

    def __init__(self) -> None:
        self.requested = False

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.requested = bool(trainer.received_sigterm)  # one that came during set-up
        signal.signal(signal.SIGTERM, self._note)

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        request_stop(signum)  # the stop points act on it where they are armed (one process)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        # Where a periodic last.ckpt is saved too (Lightning's checkpoint callbacks run after
        # this one): the stopped run resumes exactly as from one of those.
        if self._agreed(trainer):
            raise SIGTERMException

    def _agreed(self, trainer: pl.Trainer) -> bool:
        """Did any process get SIGTERM? (the same answer on every rank)"""
        if trainer.world_size == 1 or not (dist.is_available() and dist.is_initialized()):
            return self.requested
        flag = torch.tensor([int(self.requested)], device=trainer.strategy.root_device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())


__all__ = [
    "SIGNAL_EXIT_BASE",
    "StopTogetherOnSigterm",
    "exit_nonzero_on_sigterm",
    "signal_exit_status",
]
