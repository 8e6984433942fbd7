"""Our own network file: the architecture name and arguments beside the weights, so that the
file alone rebuilds the network (``save_network`` / ``load_network``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from panet.atomic import atomic_write
from panet.checkpoints.files import CheckpointError, extract_state_dict, read_checkpoint
from panet.checkpoints.strict import load_exactly
from panet.models.registry import build_network

FORMAT_NAME = "panet-lab-network"
FORMAT_VERSION = 1


def save_network(net: nn.Module, path: str | os.PathLike) -> Path:
    """Write ``net`` (its ``arch``, ``arch_args`` and state dict) to ``path`` atomically
    (``panet.atomic``). Returns the path."""
    for attribute in ("arch", "arch_args"):
        if not hasattr(net, attribute):
            raise ValueError(f"{type(net).__name__} has no `{attribute}`; cannot save it")
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "arch": net.arch,
        "arch_args": dict(net.arch_args),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
    }
    with atomic_write(path) as stream:
        torch.save(payload, stream)
    return Path(path)


def load_network(path: str | os.PathLike, attention_impl: str | None = None) -> nn.Module:
    """Rebuild and load a network written by ``save_network``; returned in eval mode.

    ``attention_impl`` overrides the stored attention implementation (all are exact).
    """
    payload = read_checkpoint(path)
    if not isinstance(payload, Mapping) or payload.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{path} is not a {FORMAT_NAME} file; for the authors' weights use "
            "panet.checkpoints.load_official(path, arch, ...)"
        )
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format version {payload['format_version']}, newer than this code "
            f"({FORMAT_VERSION}); update panet-lab"
        )
    arch_args = dict(payload["arch_args"])
    if attention_impl is not None and "attention_impl" in arch_args:
        arch_args["attention_impl"] = attention_impl
    net = build_network(payload["arch"], **arch_args)
    stored = payload.get("state_dict")
    state = extract_state_dict(stored, source=str(path)) if stored else {}
    load_exactly(net, state, source=str(path))
    return net.eval()
