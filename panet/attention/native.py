"""Native kernels of the fast pyramid attention: compiling, loading and calling them.

Everything between the matmuls of ``panet.attention.fast`` is bandwidth-bound when done in
steps: one pass over a block's [Q, L] buffer costs about as much as a c-dimensional matmul
producing it. ``paste_stream`` in ``kernels/pyramid_attention_body.h`` (package data) therefore
does one block in one pass from the matmuls' inputs: it computes the c-dimensional pixel
scores itself (6 rows x 16 keys register tiles, about 58 GFLOP/s per core on the 2-core AMD EPYC
development machine, where BLAS runs these thin products at about half that and writes the
whole map) into a ring of rows, sums the k² diagonal taps of each score row in registers, takes
the joint softmax (backward: exp(s - lse) from the log-sum-exp saved by forward, the C-dimensional
gradient rows, their box sum and the softmax backward) into a second ring, and pastes each
output row from that ring as soon as its last weight row is there; only the pasted rows
(backward: also the gradient of the pixel scores) go to memory. Hard attention and the
pure-PyTorch fallback use the stepwise kernels (``weights``, ``diag_box``).

The C code is compiled on first use with the system C compiler (well under a second, no torch
headers), loaded through ctypes and run with OpenMP on torch's thread count. Without a
compiler, or with PANET_ATTENTION_NATIVE=0, ``fast`` uses its eager PyTorch path. Both paths
are exact and tested against each other and against ``faithful``.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from panet.attention.fast import BlockGeometry
    from panet.attention.tiling import KeyTile

#: The kernel sources, shipped as package data beside this module.
KERNEL_SOURCE = Path(__file__).with_name("kernels") / "pyramid_attention.c"

#: Largest patch the native kernels handle (their tap arrays have room for 11 x 11 taps).
NATIVE_MAX_PATCH = 11

_native_state: dict[str, object] = {}


def native_library():
    """The compiled kernels (ctypes.CDLL), or None when unavailable or disabled."""
    if "lib" in _native_state:
        return _native_state["lib"]
    lib = None
    if os.environ.get("PANET_ATTENTION_NATIVE", "1") != "0":
        try:
            lib = _compile()
        except (OSError, subprocess.SubprocessError) as error:
            warnings.warn(
                f"fast attention: native kernels unavailable ({error}); using the slower "
                "eager path (install a C compiler, e.g. gcc, to enable them)",
                RuntimeWarning,
                stacklevel=3,
            )
    _native_state["lib"] = lib
    return lib


def _compile():
    """Compile the kernels for float and double into a shared library and load it."""
    compiler = os.environ.get("CC", "cc")
    if shutil.which(compiler) is None:
        raise OSError(f"no C compiler {compiler!r} on PATH")
    with tempfile.TemporaryDirectory(prefix="panet_attention_") as folder:
        library = os.path.join(folder, "pyramid_attention.so")
        # -fopenmp links libgomp.so.1 by soname: the copy torch already loaded, so the
        # kernels share torch's thread pool instead of competing with it
        # -fno-trapping-math lets GCC turn the clamps of the inlined exp into vector selects:
        # without it the softmax loops stay scalar (2.2x slower weights kernel at 48x48); FP
        # exception flags are never read, and -inf / NaN semantics are unchanged
        command = [compiler, "-O3", "-march=native", "-fno-trapping-math", "-fopenmp"]
        command += ["-fPIC", "-shared"]
        subprocess.run(
            [*command, str(KERNEL_SOURCE), "-o", library, "-lm"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        lib = ctypes.CDLL(library)  # stays mapped after the folder is removed
    c_long, ptr, c_int = ctypes.c_long, ctypes.c_void_p, ctypes.c_int
    geometry = [c_long] * 2 + [ptr] * 3 + [c_long] * 4 + [c_int]  # row, nlev, ..., threads
    for tag in ("f32", "f64"):
        getattr(lib, f"diag_box_{tag}").argtypes = [ptr] * 2 + [c_long] * 2 + geometry
        getattr(lib, f"weights_{tag}").argtypes = [ptr] * 5 + [c_long] * 2 + geometry
        stream = [ptr, ptr, c_long] * 2 + [ptr] * 3 + [c_int] + [ptr] * 6
        stream += [c_long] * 3 + [ptr] * 3 + [c_long] * 4 + [c_int]  # qs, row, nlev, ...
        getattr(lib, f"paste_stream_{tag}").argtypes = stream
        getattr(lib, f"paste_stream_scratch_{tag}").argtypes = [c_long] * 5 + [c_int]
        getattr(lib, f"paste_stream_scratch_{tag}").restype = c_long
    return lib


def _tag(tensor: Tensor) -> str:
    return "f32" if tensor.dtype == torch.float32 else "f64"


def _ptr(tensor: Tensor | None) -> int | None:
    return None if tensor is None else tensor.data_ptr()


def _geometry_args(geo: BlockGeometry, tile: KeyTile, n: int, row_offset: int) -> tuple:
    """The trailing (row, nlev, ks, klen, wk, qoff, wq, pad, n, threads) kernel arguments of
    one key ``tile`` (its level parts are the kernels' levels)."""
    spans = tile.spans
    levels = [(ctypes.c_long * len(spans))(*column) for column in zip(*spans, strict=True)]
    return (
        tile.length,
        len(spans),
        *levels,
        row_offset * geo.padded_width,
        geo.padded_width,
        geo.pad,
        n,
        torch.get_num_threads(),
    )


def native_box(
    lib, src: Tensor, out: Tensor, geo: BlockGeometry, tile: KeyTile, row_offset: int
) -> None:
    """Native ``panet.attention.fast._diagonal_box`` (exact at every position, zero outside
    ``src``); contiguous ``src`` [n, Qs, Lt] and ``out`` [n, Qd, Lt] over ``tile``'s keys."""
    n, qs, _ = src.shape
    box = getattr(lib, f"diag_box_{_tag(src)}")
    box(_ptr(src), _ptr(out), qs, out.shape[1], *_geometry_args(geo, tile, n, row_offset))


def native_weights(
    lib, pixel: Tensor, weights: Tensor, scale: Tensor, bias: Tensor, lse: Tensor, geo, tile
) -> None:
    """Native box sum + scaling + softmax of a block over one tile holding every key (see
    ``_block_weights``): fills ``weights`` [n, Q, L] and writes each query's log-sum-exp to
    ``lse`` [n, Q]."""
    n, qs, _ = pixel.shape
    kernel = getattr(lib, f"weights_{_tag(pixel)}")
    pointers = (_ptr(pixel), _ptr(weights), _ptr(scale), _ptr(bias), _ptr(lse))
    kernel(*pointers, qs, weights.shape[1], *_geometry_args(geo, tile, n, geo.pad))


def key_panels(matrix: Tensor) -> Tensor:
    """[n, c, L] -> the layout the streamed pixel scores read: [n, ceil(L / w), c, w] with
    w = 64 bytes of the dtype (two 256-bit vectors), zero-padded past L."""
    n, channels, length = matrix.shape
    width = 64 // matrix.element_size()
    padded = -(-length // width) * width
    grid = torch.nn.functional.pad(matrix, (0, padded - length))
    return grid.view(n, channels, padded // width, width).transpose(1, 2).contiguous()


def paste_stream_scratch(padded_width: int, pad: int, backward: bool) -> int:
    """Rows of keys the streamed pass keeps per thread (its rings of pixel-score and weight
    rows, two scratch rows), as ``paste_stream_scratch`` in the kernels computes them, less its
    fixed tile of ``MR x channels``: the memory that grows with the key tile."""
    ring = 2 * (pad * padded_width + pad) + 1
    return 2 + (2 if backward else 1) * (2 * ring + STREAM_ROWS)


#: Pixel-score rows per register tile of the streamed pass (``MR`` in the kernels).
STREAM_ROWS = 6
#: Pieces of a block's rows per thread in the streamed pass, handed out as threads free up
#: (each piece recomputes the weight rows around it: about two image rows).
PIECES_PER_THREAD = 1


def stream_pieces(threads: int) -> int:
    """Pieces of a block's rows the streamed pass splits its work into: a fixed number per
    thread, so that results (the pieces' partial sums, added in order) never depend on which
    thread ran what."""
    return max(1, threads * PIECES_PER_THREAD)


def native_paste_stream(
    lib,
    query_rows: Tensor,
    panels: Tensor,
    scale: Tensor,
    bias: Tensor,
    lse: Tensor,
    normalize: bool,
    pasted: Tensor | None,
    geo: BlockGeometry,
    tile: KeyTile,
    scratch,
    grad_rows: Tensor | None = None,
    value_panels: Tensor | None = None,
    d_pixel: Tensor | None = None,
    dot_out: Tensor | None = None,
    dot_in: Tensor | None = None,
) -> Tensor | None:
    """A block's whole attention over one key ``tile`` between its matmuls in one native
    pass, nothing stored but the result: ``pasted`` [n, Qs, Lt] receives the adjoint box sum of
    the weights computed from ``query_rows`` [n, c, Qs] and the keys (``panels``: ``key_panels``
    of [n, c, Lt]; with ``normalize`` their log-sum-exp over the tile goes to ``lse`` [n, Q],
    else ``lse`` is used). With ``pasted`` None only that log-sum-exp is computed.

    Backward, with ``grad_rows`` (dL/d block output [n, Qs, C]) and ``value_panels`` (of the
    values [n, C, Lt]): ``d_pixel`` [n, Qs, Lt] also receives the gradient of the pixel
    scores, and the gradient of ``scale`` [n, Lt] is returned. ``dot_out`` [n, Q] instead
    only receives (adds) each query's ``sum_k A dA`` over the tile; ``dot_in`` gives that sum
    over all tiles. ``scratch(elements)`` returns a flat buffer of at least that many elements,
    kept across the blocks of a call (the threads' rings of rows)."""
    n, channels, qs = query_rows.shape
    row = tile.length
    threads = torch.get_num_threads()
    query_t = query_rows.transpose(1, 2).contiguous()
    parts = grad_c = None
    value_channels = 0 if value_panels is None else value_panels.shape[2]
    pieces = stream_pieces(threads)
    if grad_rows is not None:
        if dot_out is None:
            parts = scale.new_zeros(pieces, n, row)
        grad_c = grad_rows.contiguous()
    inputs = (_ptr(query_t), _ptr(panels), channels, _ptr(grad_c), _ptr(value_panels))
    rest = (_ptr(scale), _ptr(bias), _ptr(lse), int(normalize))
    row, nlev, ks, klen, wk, _, wq, pad, _, threads = _geometry_args(geo, tile, n, 0)
    size = getattr(lib, f"paste_stream_scratch_{_tag(scale)}")
    per_thread = size(row, wq, pad, channels, value_channels, int(grad_rows is not None))
    outputs = (_ptr(pasted), _ptr(d_pixel), _ptr(parts), _ptr(dot_out), _ptr(dot_in))
    outputs += (_ptr(scratch(threads * per_thread)),)
    kernel = getattr(lib, f"paste_stream_{_tag(scale)}")
    kernel(
        *inputs, value_channels, *rest, *outputs, qs, row, nlev, ks, klen, wk, wq, pad, n,
        pieces, threads,
    )  # fmt: skip
    return None if parts is None else parts.sum(dim=0)
