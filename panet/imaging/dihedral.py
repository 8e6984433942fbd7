"""The 8 flips/transposes of an image (the dihedral group of the square), shared by the
training augmentation (``data.datasets``) and the ×8 self-ensemble (``panet.inference.ensemble``).

Variant ``i`` applies, in this order, a width flip when bit 0 of ``i`` is set, a height flip for
bit 1 and a height/width transpose for bit 2: the order of the authors' ``forward_x8``
(PANet / EDSR-PyTorch). ``undo_dihedral_variant`` undoes them in the reverse order.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

#: Number of flips/rotations of the square (valid variant indices are 0..7).
N_DIHEDRAL = 8


def _flip_width(x: Tensor) -> Tensor:
    return x.flip(-1)


def _flip_height(x: Tensor) -> Tensor:
    return x.flip(-2)


def _transpose(x: Tensor) -> Tensor:
    # Contiguous like the authors' numpy copies, so the network sees the same memory layout.
    return x.transpose(-2, -1).contiguous()


#: The variant bits and the operation each one applies, in the order they are applied.
_STEPS: tuple[tuple[int, Callable[[Tensor], Tensor]], ...] = (
    (1, _flip_width),
    (2, _flip_height),
    (4, _transpose),
)


def _steps(index: int) -> list[Callable[[Tensor], Tensor]]:
    if not 0 <= index < N_DIHEDRAL:
        raise ValueError(f"dihedral variant index must be in 0..7; got {index}")
    return [operation for bit, operation in _STEPS if index & bit]


def dihedral_variant(x: Tensor, index: int) -> Tensor:
    """Variant ``index`` (0–7) of ``x [..., H, W]``: bit 0 flips width, 1 height, 2 transposes."""
    for operation in _steps(index):
        x = operation(x)
    return x


def undo_dihedral_variant(y: Tensor, index: int) -> Tensor:
    """Inverse of :func:`dihedral_variant` for the same ``index`` (each step is its own inverse,
    so the steps are applied in reverse order)."""
    for operation in reversed(_steps(index)):
        y = operation(y)
    return y
