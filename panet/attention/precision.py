"""Exact float32 products inside the attention, whatever the process's TF32 setting.

``trainer=gpu`` turns TensorFloat-32 on for the network's matmuls and convolutions; inside the
attention it would move the results by about 1e-3 relative (TF32 keeps 10 mantissa bits of each
operand; the softmax then amplifies the scores' error: ``benchmarks/attention_precision.py``
measures 9e-4 on the output at PANet's scale and 3e-3 at PA-EDSR's, by emulation). So the
attention runs its CUDA products in IEEE float32 unless ``PANET_ATTENTION_TF32=1`` opts in.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def tf32_requested() -> bool:
    """Whether ``PANET_ATTENTION_TF32=1`` lets the attention use TF32 products."""
    return os.environ.get("PANET_ATTENTION_TF32", "0") == "1"


@contextmanager
def float32_products(device: torch.device) -> Iterator[None]:
    """Inside: CUDA matmuls and convolutions in IEEE float32 (unless TF32 is requested); the
    process's settings are restored on exit. Nothing changes on other devices."""
    if device.type != "cuda" or tf32_requested():
        yield
        return
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
