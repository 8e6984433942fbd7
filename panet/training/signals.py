"""Exit status of a run stopped by a signal: 128 + the signal number, as shells report it.

Lightning turns SIGTERM into ``SIGTERMException``, a ``SystemExit`` without a code, after its
callbacks have run (``LastCheckpoint`` has then written ``last.ckpt``): the process would exit
with status 0, and a script or scheduler could not tell a stopped run from a finished one.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pytorch_lightning.utilities.exceptions import SIGTERMException

SIGNAL_EXIT_BASE = 128


def signal_exit_status(signum: int) -> int:
    """The conventional exit status of a process ended by signal ``signum`` (SIGTERM: 143)."""
    return SIGNAL_EXIT_BASE + int(signum)


@contextmanager
def exit_nonzero_on_sigterm(step: Callable[[], int]) -> Iterator[None]:
    """Turn Lightning's ``SIGTERMException`` into ``SystemExit(143)`` with a one-line note;
    ``step()`` gives the step reached, for the note."""
    try:
        yield
    except SIGTERMException:
        print(
            f"training stopped by signal SIGTERM at step {step()}; checkpoints/last.ckpt holds "
            "that step: rerun the same command to resume",
            file=sys.stderr,
        )
        raise SystemExit(signal_exit_status(signal.SIGTERM)) from None


__all__ = ["SIGNAL_EXIT_BASE", "exit_nonzero_on_sigterm", "signal_exit_status"]
