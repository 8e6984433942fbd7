"""Transparent huge pages for the fast attention's score-sized workspace buffers.

The box-sum attention streams through score-sized buffers ([query rows, keys], tens to
hundreds of MB) whose rows lie tens of KB apart: with 4 KB pages every row of a GEMM output
block or of a diagonal tap is another page, and the TLB misses dominate (measured here: the
c = 32 score GEMM of the 48x48 training block 104.8 -> 66.4 ms with huge pages). Linux kernels
set to ``transparent_hugepage=madvise`` (a common default) only back memory with 2 MB pages
where asked, so each fresh buffer is advised ``MADV_HUGEPAGE`` before its first touch. It is
only a hint: where the kernel, the platform or the allocation does not allow it, nothing
changes, and the results are the same either way (the values never depend on the pages).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

from torch import Tensor

#: Linux's MADV_HUGEPAGE (asm-generic/mman-common.h).
MADV_HUGEPAGE = 14
#: Size of a transparent huge page on x86-64 and most arm64 kernels.
HUGE_PAGE_BYTES = 2 << 20


@functools.cache
def _madvise():
    """libc's ``madvise``, or None where there is none (not Linux, no libc)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    function = libc.madvise
    function.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    function.restype = ctypes.c_int
    return function


def advise_huge_pages(buffer: Tensor) -> bool:
    """Ask for huge pages on the 2 MB-aligned part of a CPU ``buffer`` (call it before the
    first write). True when the kernel took the advice, False when it was not given or not
    taken (small or non-CPU buffer, another platform)."""
    madvise = _madvise()
    if madvise is None or buffer.device.type != "cpu":
        return False
    start = buffer.data_ptr()
    end = start + buffer.numel() * buffer.element_size()
    aligned = -(-start // HUGE_PAGE_BYTES) * HUGE_PAGE_BYTES
    length = (end - aligned) // HUGE_PAGE_BYTES * HUGE_PAGE_BYTES
    if length <= 0:
        return False
    return madvise(aligned, length, MADV_HUGEPAGE) == 0


def empty_with_huge_pages(like: Tensor, numel: int) -> Tensor:
    """``like.new_empty(numel)``, advised to use huge pages (see the module docstring)."""
    buffer = like.new_empty(numel)
    advise_huge_pages(buffer)
    return buffer
