"""Registry of the restoration networks: ``build_network(arch, **arch_args)`` rebuilds any of
them from the ``arch``/``arch_args`` it carries (checkpoints store exactly these two).

A new family registers its classes in ``ARCHITECTURES``; every class exposes ``arch`` (its
registry name), ``arch_args`` (its constructor arguments), ``pixel_range`` and ``scale``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from panet.models.baselines import Bicubic, Identity
from panet.models.csnln import CSNLN
from panet.models.edsr import EDSR, PAEDSR
from panet.models.mprnet import MPRNet
from panet.models.panet import PANet

ARCHITECTURES: dict[str, type[nn.Module]] = {
    cls.arch: cls for cls in (PANet, PAEDSR, EDSR, MPRNet, Identity, Bicubic, CSNLN)
}


def build_network(arch: str, **arch_args: Any) -> nn.Module:
    """A fresh network of architecture ``arch`` built with its constructor ``arch_args``.

    Raises ValueError for an unknown ``arch`` (listing the known ones); a misspelt argument
    fails with the constructor's TypeError.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch](**arch_args)


def network_channels(net: nn.Module) -> int | None:
    """Input channels the network was built for (``arch_args["n_colors"]``); None when it takes
    any number (the baselines)."""
    arch_args = getattr(net, "arch_args", None)
    if isinstance(arch_args, Mapping) and "n_colors" in arch_args:
        return int(arch_args["n_colors"])
    return None
