"""``impl="auto"``: the best exact attention implementation for the input's device and dtype.

- CPU (any dtype): ``fast``, the blocked box-sum form with its native C kernels (float32 and
  float64; other dtypes take its exact eager path). Bounded memory, the fastest measured here.
- Inside ``torch.compile`` (any device): ``dense``, the same function as plain tensor operations,
  so that compiling a whole network with ``fullgraph=True`` traces the attention too (``fast``
  calls C kernels through ctypes and a custom autograd Function, which dynamo cannot trace).
- CUDA and other accelerators: ``compiled`` (``dense`` under ``torch.compile``: inductor emits
  Triton kernels) when Triton is importable, else ``dense`` eagerly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from panet.attention.dense import dense_attention


def _has_triton() -> bool:
    try:
        from torch.utils._triton import has_triton
    except ImportError:
        return False
    return bool(has_triton())


def choose_implementation(device: torch.device, dtype: torch.dtype) -> str:
    """Name of the implementation ``auto`` runs for tensors on ``device`` of ``dtype``."""
    del dtype  # every implementation is exact for every float dtype; the device decides
    if torch.compiler.is_compiling():
        return "dense"
    if device.type == "cpu":
        return "fast"
    return "compiled" if device.type == "cuda" and _has_triton() else "dense"


def auto_attention(
    query: Tensor,
    keys: Sequence[Tensor],
    values: Sequence[Tensor],
    *,
    patch_size: int,
    softmax_scale: float,
    hard: bool,
) -> Tensor:
    """Pyramid attention by ``choose_implementation(query.device, query.dtype)``; the same
    arguments and result as ``panet.attention.faithful.faithful_attention``."""
    name = choose_implementation(query.device, query.dtype)
    if name == "dense":  # also the path traced by torch.compile: no import machinery in it
        attend = dense_attention
    else:
        from panet.attention.pyramid import resolve_implementation

        attend = resolve_implementation(name)
    return attend(
        query, keys, values, patch_size=patch_size, softmax_scale=softmax_scale, hard=hard
    )
