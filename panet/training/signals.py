"""Exit status of a run stopped by a signal: 128 + the signal number, as shells report it.

``exit_nonzero_on_sigterm`` wraps training and testing. SIGTERM then only requests a stop
(``panet.stop``): the stop points between network calls, tiles and images raise
``StopRequested`` within seconds, also in the middle of a slow validation, and Lightning's own
check between steps raises ``SIGTERMException``; either way Lightning's exception hook has
``LastCheckpoint`` write ``last.ckpt`` of the last finished training step, and the process exits
with status 143 and a one-line note (a ``SystemExit`` without a code would exit 0, and a
scheduler could not tell a stopped run from a finished one).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pytorch_lightning.utilities.exceptions import SIGTERMException

from panet.stop import SIGNAL_EXIT_BASE, StopRequested, stop_on_signals


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


__all__ = ["SIGNAL_EXIT_BASE", "exit_nonzero_on_sigterm", "signal_exit_status"]
