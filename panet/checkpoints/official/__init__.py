"""The authors' released checkpoints: one key mapping per architecture family
(``official/panet.py``, ``official/edsr.py``, ``official/csnln.py``, ``official/mprnet.py``)
and ``load_official``, which builds our network, maps the file onto it and loads it strictly
(``panet.checkpoints.strict``)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor, nn

from panet.checkpoints.files import StateDict, extract_state_dict, read_checkpoint
from panet.checkpoints.official import csnln, edsr, mprnet, panet
from panet.checkpoints.strict import load_exactly
from panet.models.registry import ARCHITECTURES, build_network

#: How each architecture with released weights maps the authors' keys onto ours.
OFFICIAL_LAYOUTS: Mapping[str, Callable[[Mapping[str, Tensor]], StateDict]] = {
    "panet": panet.to_ours,
    "pa_edsr": edsr.to_ours,
    "edsr": edsr.to_ours,
    "csnln": csnln.to_ours,
    "mprnet": mprnet.to_ours,
}
#: Architectures with released official weights that ``load_official`` understands.
OFFICIAL_ARCHITECTURES: tuple[str, ...] = tuple(OFFICIAL_LAYOUTS)


def _layout(arch: str) -> Callable[[Mapping[str, Tensor]], StateDict]:
    if arch not in OFFICIAL_LAYOUTS:
        raise ValueError(f"arch must be one of {OFFICIAL_ARCHITECTURES} for official weights")
    return OFFICIAL_LAYOUTS[arch]


def official_to_ours(state: Mapping[str, Tensor], arch: str) -> StateDict:
    """Map the authors' key layout of ``arch`` onto ours (see the per-family modules)."""
    return _layout(arch)(state)


def load_official(path: str | os.PathLike, arch: str, **arch_args: Any) -> nn.Module:
    """The authors' network with their released weights, in eval mode.

    Args:
        path: a ``.pt`` file from the authors (bare state dict, or nested under
            ``state_dict``/``model``; ``module.`` prefixes are fine).
        arch: ``"panet"`` (denoising, demosaicing, CAR), ``"pa_edsr"`` (SR), ``"edsr"`` or
            ``"csnln"`` (SR; e.g. ``scale=2, depth=12``).
            ``"mprnet"`` (deblurring, deraining, denoising).
        **arch_args: constructor arguments of the network, e.g. ``n_resblocks=80``,
            ``n_colors=1``, ``scale=2``, ``variant="derain"``; ``attention_impl`` (networks
            with pyramid attention) defaults to ``"auto"`` (bounded memory on every device).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError (a ValueError): unreadable file, or any missing, unexpected or wrongly
            shaped tensor (listed, with the architecture arguments that would fit).
    """
    to_ours = _layout(arch)  # an unknown arch fails before the file is read
    if "attention_impl" in inspect.signature(ARCHITECTURES[arch]).parameters:
        arch_args.setdefault("attention_impl", "auto")
    state = extract_state_dict(read_checkpoint(path), source=str(path))
    net = build_network(arch, **arch_args)
    load_exactly(net, to_ours(state), source=str(path))
    return net.eval()
