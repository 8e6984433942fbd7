"""Strict loading: a state dict fits a network exactly or nothing is loaded.

Every path that puts weights into a network (the authors' files, our network files, train.py's
Lightning checkpoints) goes through ``load_exactly``: missing, unexpected and wrongly shaped
tensors are one error listing the keys and the architecture arguments the file would fit, and
tensors the network shares (PANet's single PReLU) must be equal in the file.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from panet.checkpoints.files import CheckpointError, format_keys
from panet.checkpoints.layout import infer_arch_args


def describe_fit(state: Mapping[str, Tensor]) -> str:
    args = infer_arch_args(state)
    if not args:
        return "no architecture could be recognised from its keys"
    return "the file fits " + ", ".join(f"{k}={v!r}" for k, v in args.items())


def check_state_dict(net: nn.Module, state: Mapping[str, Tensor], source: str) -> None:
    """Raise CheckpointError unless ``state`` has exactly ``net``'s keys and shapes; the message
    lists missing, unexpected and mis-shaped keys and the arguments the file would fit."""
    expected = net.state_dict()
    missing = set(expected) - set(state)
    unexpected = set(state) - set(expected)
    misshaped = [
        f"{k}: file {tuple(state[k].shape)} vs network {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(state))
        if state[k].shape != expected[k].shape
    ]
    if not (missing or unexpected or misshaped):
        return
    problems = []
    if missing:
        problems.append(f"missing keys {format_keys(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {format_keys(unexpected)}")
    if misshaped:
        problems.append(f"wrongly shaped tensors {format_keys(misshaped)}")
    arch_args = getattr(net, "arch_args", {})
    raise CheckpointError(
        f"{source} does not fit {getattr(net, 'arch', type(net).__name__)}({arch_args}): "
        + "; ".join(problems)
        + f". Hint: {describe_fit(state)}."
    )


def load_exactly(net: nn.Module, state: Mapping[str, Tensor], source: str) -> None:
    """Strict check, load, then make sure tensors the network shares (e.g. PANet's single
    PReLU) were equal in the file rather than silently overwritten."""
    check_state_dict(net, state, source)
    net.load_state_dict(state, strict=True)
    loaded = net.state_dict()
    differing = [k for k, v in state.items() if not torch.equal(loaded[k], v.to(loaded[k].dtype))]
    if differing:
        raise CheckpointError(
            f"{source}: tensors {format_keys(differing)} are shared by the network but differ "
            "in the file, so it was not made by this architecture"
        )
