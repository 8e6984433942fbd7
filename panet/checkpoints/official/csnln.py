"""The authors' CSNLN checkpoints (SHI-Labs/Cross-Scale-Non-Local-Attention): a bare state dict
whose keys equal ours (``sub_mean``/``add_mean`` frozen convs, ``head``, the one shared
``SEM`` cell with its ``escape_NaN`` buffer, ``tail``; 51 keys at x2/x3, 84 at x4), so the
mapping is the identity; ``load_official`` then checks every key and shape strictly."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from panet.checkpoints.files import StateDict


def to_ours(state: Mapping[str, Tensor]) -> StateDict:
    """The authors' CSNLN state dict in our layout (the same keys)."""
    return dict(state)
