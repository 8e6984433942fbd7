"""A process-wide "stop requested" flag, so that a signal stops long work within seconds.

SLURM sends SIGTERM about 30 s before it kills a job; one whole image through a large network
can take minutes. ``stop_on_signals`` (what ``train.py`` wraps its fit and test in) installs a
handler that only sets a flag; the long loops call ``check_stop()`` between their pieces --
between the network calls of every inference mode (``panet.inference.padding.network_forward``:
whole images, chop pieces, tiles, the 8 flips), between evaluation images
(``panet.evaluation.scoring.restore_and_score``); any long computation may call it too (e.g. an
attention call between its blocks) -- and it raises ``StopRequested`` there. The trainer then
writes ``last.ckpt`` of the last finished training step (its exception hook) and the process
exits with 128 + the signal (143).

``check_stop()`` is a flag read when nothing was requested (call it as often as every block).
It raises only where stopping mid-work is safe: ``stop_points(False)`` (or ``stop_on_signals(...,
armed=False)``) disarms it, as ``train.py`` does for multi-process (DDP) runs, where one rank
leaving a step or an image in the middle would leave the others waiting in a collective;
Lightning stops those between steps and images by itself, on every rank together.

This module is part of the core: it imports nothing but the standard library.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any

#: 128 + signal number: the exit status of a process ended by that signal, as shells report it.
SIGNAL_EXIT_BASE = 128

_requested: int | None = None  # the signal number, once one was received
_armed: bool = True


class StopRequested(SystemExit):  # noqa: N818 (a request, not an error: exit status 128 + signum)
    """Raised by ``check_stop`` after a stop signal; a ``SystemExit`` with code 128 + signum, so
    a process that does not catch it exits with the conventional status and no traceback, and
    ``except Exception`` blocks do not swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(SIGNAL_EXIT_BASE + int(signum))
        self.signum = int(signum)

    def __str__(self) -> str:
        return f"stop requested by signal {signal.Signals(self.signum).name}"


def request_stop(signum: int = signal.SIGTERM) -> None:
    """Ask every ``check_stop`` from now on to stop (what the signal handler does)."""
    global _requested
    if _requested is None:
        _requested = int(signum)


def stop_requested() -> bool:
    """Whether a stop was requested (whether or not stop points are armed)."""
    return _requested is not None


def requested_signal() -> int | None:
    """The signal that requested the stop, or None."""
    return _requested


def check_stop() -> None:
    """Raise ``StopRequested`` when a stop was requested and stop points are armed (else a flag
    read: cheap enough between blocks of an attention call)."""
    if _requested is not None and _armed:
        raise StopRequested(_requested)


def clear_stop() -> None:
    """Forget a requested stop (the end of ``stop_on_signals``)."""
    global _requested
    _requested = None


@contextlib.contextmanager
def stop_points(armed: bool) -> Iterator[None]:
    """Arm (True) or disarm (False) ``check_stop`` inside the block; restored after it."""
    global _armed
    before, _armed = _armed, bool(armed)
    try:
        yield
    finally:
        _armed = before


Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


@contextlib.contextmanager
def stop_on_signals(
    signums: Sequence[int] = (signal.SIGTERM,), *, armed: bool = True
) -> Iterator[None]:
    """While the block runs, the given signals request a stop instead of ending the process (a
    Python handler installed before chains to it), and stop points are ``armed`` or not;
    afterwards the handlers and the arming are restored and the request forgotten. Only the
    main thread can install handlers: elsewhere no handler is installed."""
    global _armed
    previous: dict[int, Handler] = {}
    was_armed, _armed = _armed, bool(armed)

    def handler(signum: int, frame: FrameType | None) -> None:
        request_stop(signum)
        chained = previous.get(signum)
        if callable(chained):
            chained(signum, frame)

    try:
        for signum in signums:
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)
        clear_stop()
        _armed = was_armed


__all__ = [
    "SIGNAL_EXIT_BASE",
    "StopRequested",
    "check_stop",
    "clear_stop",
    "request_stop",
    "requested_signal",
    "stop_on_signals",
    "stop_points",
    "stop_requested",
]
