"""Which device a network runs on, and the float32 matmul/convolution precision on GPUs.

``resolve_device("auto" | "cpu" | "cuda" | "cuda:N")`` turns a user's choice into a
``torch.device``; "auto" means the first CUDA device when one is usable, else the CPU. Asking
for CUDA on a machine without it is an error that says so (never a silent CPU run of hours).

``set_tf32(enabled)`` switches TensorFloat-32 for CUDA matmuls and cuDNN convolutions: ~10-bit
mantissa products with float32 accumulation on Ampere and newer GPUs, several times faster than
full float32. PyTorch's defaults are TF32 off for matmuls and on for cuDNN convolutions, so
"full float32" needs both switched off. It has no effect on CPUs.
"""

from __future__ import annotations

import re

import torch

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"
_CUDA = re.compile(r"cuda(?::(\d+))?")


def resolve_device(spec: str | torch.device) -> torch.device:
    """The ``torch.device`` for ``spec`` ("auto", "cpu", "cuda", "cuda:N").

    Raises:
        ValueError: an unknown name, CUDA requested where none is available, or a CUDA index
            beyond the devices present.
    """
    text = str(spec).strip().lower()
    if text == "auto":
        return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    match = _CUDA.fullmatch(text)
    if match is None:
        raise ValueError(f"unknown device {spec!r}; choose {DEVICE_CHOICES}")
    if not torch.cuda.is_available():
        raise ValueError(
            f"device={spec} was requested but CUDA is not available here (torch "
            f"{torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); use device=cpu, "
            "or device=auto to take a GPU only where one exists"
        )
    index = int(match.group(1) or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise ValueError(
            f"device={spec} was requested but only {count} CUDA device(s) exist "
            f"(cuda:0 .. cuda:{count - 1})"
        )
    return torch.device("cuda", index)


def describe_device(device: torch.device) -> dict[str, str | None]:
    """What ran the numbers, for ``metrics.json`` meta: the device and, on CUDA, its name."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {"device": str(device), "device_name": name, "torch": torch.__version__}


def set_tf32(enabled: bool) -> None:
    """TF32 for CUDA matmuls and cuDNN convolutions on (faster) or off (full float32)."""
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn
    if hasattr(matmul, "fp32_precision"):
        # torch >= 2.9: mixing these with the legacy allow_tf32 flags is an error.
        value = "tf32" if enabled else "ieee"
        matmul.fp32_precision = value
        conv.conv.fp32_precision = value
    else:
        matmul.allow_tf32 = enabled
        conv.allow_tf32 = enabled


def tf32_enabled() -> bool:
    """Whether CUDA matmuls or cuDNN convolutions may use TF32 (for run records)."""
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn
    if hasattr(matmul, "fp32_precision"):
        return "tf32" in (matmul.fp32_precision, conv.conv.fp32_precision)
    return bool(matmul.allow_tf32 or conv.allow_tf32)
