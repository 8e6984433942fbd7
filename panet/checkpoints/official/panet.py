"""The authors' PANet checkpoints (denoising, demosaicing, JPEG artifacts): their keys equal
ours except for the ``sub_mean``/``add_mean`` entries of MeanShift layers that their PANet
builds but never uses, which are dropped."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from panet.checkpoints.files import StateDict

_MEAN_SHIFT_PREFIXES = ("sub_mean.", "add_mean.")


def to_ours(state: Mapping[str, Tensor]) -> StateDict:
    """The authors' PANet state dict in our layout."""
    return {k: v for k, v in state.items() if not k.startswith(_MEAN_SHIFT_PREFIXES)}
