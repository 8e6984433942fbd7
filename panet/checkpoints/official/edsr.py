"""The authors' EDSR and PA-EDSR checkpoints (super-resolution). Keys equal ours, except that
PA-EDSR registers its attention twice (``msa.*`` and ``body.{R/2}.*``): the two copies must be
the same tensors, and ``msa.*`` is dropped."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from panet.checkpoints.files import CheckpointError, StateDict
from panet.checkpoints.layout import body_indices

_DUPLICATE_PREFIX = "msa."


def to_ours(state: Mapping[str, Tensor]) -> StateDict:
    """The authors' (PA-)EDSR state dict in our layout; refuses differing duplicates."""
    mapped = dict(state)
    duplicated = {
        k.removeprefix(_DUPLICATE_PREFIX): v
        for k, v in mapped.items()
        if k.startswith(_DUPLICATE_PREFIX)
    }
    if not duplicated:
        return mapped
    attentions = body_indices(mapped, "conv_match.0.weight")
    if len(attentions) != 1:
        raise CheckpointError(
            f"the file has msa.* keys but {len(attentions)} attention modules in its body "
            "(expected exactly one, body.{R/2})"
        )
    prefix = f"body.{attentions[0]}."
    for leaf, tensor in duplicated.items():
        twin = mapped.get(prefix + leaf)
        if twin is None or twin.shape != tensor.shape or not torch.equal(twin, tensor):
            raise CheckpointError(
                f"msa.{leaf} and {prefix}{leaf} must be the same tensor (the authors "
                "register the attention twice) but differ or one is missing"
            )
    return {k: v for k, v in mapped.items() if not k.startswith(_DUPLICATE_PREFIX)}
