"""The authors' MPRNet checkpoints (``{"epoch", "state_dict", "optimizer"}``, keys optionally
prefixed ``module.``): their keys equal ours. Their one PReLU, shared by all 55 channel
attention blocks, is saved under every block's ``body.1.weight``; those copies must be one
tensor, which becomes the network's single PReLU parameter."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from panet.checkpoints.files import CheckpointError, StateDict, format_keys

#: The state-dict key ending of the shared PReLU inside every channel attention block.
SHARED_PRELU_SUFFIX = ".body.1.weight"


def shared_prelu_keys(state: Mapping[str, Tensor]) -> list[str]:
    """The keys under which MPRNet's single PReLU slope is stored (its ``[1]`` tensors ending in
    ``body.1.weight``; the CABs' convolutions are 4-D)."""
    return sorted(k for k, v in state.items() if k.endswith(SHARED_PRELU_SUFFIX) and v.dim() == 1)


def to_ours(state: Mapping[str, Tensor]) -> StateDict:
    """The authors' MPRNet state dict in our layout; refuses a file whose copies of the shared
    PReLU differ (it was not saved by one MPRNet)."""
    keys = shared_prelu_keys(state)
    if keys:
        first = state[keys[0]]
        differing = [k for k in keys if not torch.equal(state[k], first)]
        if differing:
            raise CheckpointError(
                f"MPRNet shares one PReLU between all {len(keys)} attention blocks, but the file "
                f"stores different values under {format_keys(differing)} than under {keys[0]}; "
                "it was not saved from one MPRNet"
            )
    return dict(state)
