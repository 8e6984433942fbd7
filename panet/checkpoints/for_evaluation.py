"""Load a network for evaluation from any checkpoint this project meets.

* a Lightning ``.ckpt`` written by ``train.py`` (``RestorationModule`` stores ``arch`` and
  ``arch_args`` beside Lightning's ``state_dict``, whose network keys start with ``net.``);
* our own format (``panet.checkpoints.network_file.save_network``);
* the authors' official ``.pt`` weights, given the architecture (``official_arch``) and its
  constructor arguments (``panet.checkpoints.load_official``).

Every file is read with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from torch import nn

from panet.checkpoints.files import CheckpointError, read_checkpoint
from panet.checkpoints.network_file import FORMAT_NAME, load_network
from panet.checkpoints.official import load_official
from panet.checkpoints.strict import load_exactly
from panet.models.registry import build_network

#: Prefix of the network's parameters inside a Lightning checkpoint (``RestorationModule.net``).
LIGHTNING_NET_PREFIX = "net."


def is_lightning_checkpoint(payload: Any) -> bool:
    """True for a checkpoint dict written by Lightning (it records its version)."""
    return isinstance(payload, Mapping) and "pytorch-lightning_version" in payload


def network_from_lightning(payload: Mapping[str, Any], source: str) -> nn.Module:
    """Rebuild ``RestorationModule.net`` from a loaded Lightning checkpoint dict (eval mode)."""
    if "arch" not in payload or "arch_args" not in payload:
        raise CheckpointError(
            f"{source} is a Lightning checkpoint without 'arch'/'arch_args'; it was not written "
            "by panet.training.RestorationModule"
        )
    net = build_network(str(payload["arch"]), **dict(payload["arch_args"]))
    state = {
        key[len(LIGHTNING_NET_PREFIX) :]: value
        for key, value in payload.get("state_dict", {}).items()
        if key.startswith(LIGHTNING_NET_PREFIX)
    }
    load_exactly(net, state, source)
    return net.eval()


def load_for_evaluation(
    path: str | os.PathLike[str],
    official_arch: str | None = None,
    arch_args: Mapping[str, Any] | None = None,
) -> nn.Module:
    """A network in eval mode from ``path``.

    Args:
        path: Lightning ``.ckpt``, our network file, or (with ``official_arch``) the authors'
            weights.
        official_arch: "panet", "pa_edsr", "edsr", "csnln" or "mprnet" when ``path`` holds
            official weights.
        arch_args: constructor arguments of the official network (e.g. ``{"n_resblocks": 80,
            "n_colors": 1}``); only with ``official_arch``.
    """
    if official_arch is not None:
        return load_official(path, official_arch, **dict(arch_args or {})).eval()
    if arch_args:
        raise ValueError(
            "arch_args only apply to official weights: pass "
            "official_arch=panet|pa_edsr|edsr|csnln|mprnet too (Lightning and panet-lab "
            "checkpoints record their architecture)"
        )
    payload = read_checkpoint(path)
    if is_lightning_checkpoint(payload):
        return network_from_lightning(payload, str(path))
    if isinstance(payload, Mapping) and payload.get("format") == FORMAT_NAME:
        return load_network(path)
    raise CheckpointError(
        f"{path} is neither a train.py checkpoint nor a {FORMAT_NAME} file; for the authors' "
        "weights pass official_arch=panet|pa_edsr|edsr|csnln|mprnet and arch_args (e.g. "
        "'+arch_args.n_resblocks=80')"
    )
