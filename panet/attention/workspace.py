"""Score-sized scratch buffers of the fast attention, kept between calls on the CPU.

Every block of a call reuses a few buffers of the block's size (up to the memory budget); a
fresh allocation per call would fault every page in again on first touch. That costs about
0.1 s per 500 MB on a quiet machine (a fifth of an 82 x 82 forward) and far more on virtual
machines that hand freed memory back to their host: measured here, after another call freed
gigabytes, faulting in a 469 MB block buffer took 4.2 s instead of 0.11 s. So on the CPU the
buffers stay with the thread between calls (reused, grown when a call needs more; at most what
the largest plan used, i.e. about the budget) until ``release_workspace()``. On GPUs PyTorch's
caching allocator already reuses freed blocks, and a fresh buffer is taken each call.
"""

from __future__ import annotations

import threading

from torch import Tensor

from panet.attention.huge_pages import empty_with_huge_pages

_local = threading.local()


def _kept() -> dict[tuple, Tensor]:
    if not hasattr(_local, "buffers"):
        _local.buffers = {}
    return _local.buffers


def kept_buffer(like: Tensor, slot: str, elements: int) -> Tensor:
    """A flat buffer of ``elements`` of ``like``'s dtype and device for scratch ``slot``: on
    the CPU this thread's kept buffer of that slot (grown when too small, advised to use huge
    pages when new), elsewhere a fresh one. Its contents are undefined."""
    if like.device.type != "cpu":
        return like.new_empty(elements)
    kept = _kept()
    key = (slot, like.dtype)
    buffer = kept.get(key)
    if buffer is None or buffer.numel() < elements:
        kept.pop(key, None)  # free the smaller one before allocating its successor
        buffer = kept[key] = empty_with_huge_pages(like, elements)
    return buffer[:elements]


def kept_bytes() -> int:
    """Bytes this thread keeps in scratch buffers."""
    return sum(t.numel() * t.element_size() for t in _kept().values())


def release_workspace() -> None:
    """Free this thread's kept scratch buffers (they are allocated again when needed)."""
    _kept().clear()
