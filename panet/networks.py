"""Registry of the restoration networks: ``build_network(arch, **arch_args)`` rebuilds any of
them from the ``arch``/``arch_args`` it carries."""

from __future__ import annotations

from typing import Any

from torch import nn

from panet.edsr import EDSR, PAEDSR
from panet.panet_net import PANet

ARCHITECTURES: dict[str, type[nn.Module]] = {
    PANet.arch: PANet,
    PAEDSR.arch: PAEDSR,
    EDSR.arch: EDSR,
}


def _baselines() -> dict[str, type[nn.Module]]:
    """Identity/bicubic baselines, registered when ``panet.baselines`` is available."""
    try:
        from panet import baselines
    except ImportError:
        return {}
    return {cls.arch: cls for cls in (baselines.Identity, baselines.Bicubic)}


def build_network(arch: str, **arch_args: Any) -> nn.Module:
    """A fresh network of architecture ``arch`` built with its constructor ``arch_args``.

    Raises ValueError for an unknown ``arch`` (listing the known ones); a misspelt argument
    fails with the constructor's TypeError.
    """
    registry = {**ARCHITECTURES, **_baselines()}
    if arch not in registry:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(registry)}")
    return registry[arch](**arch_args)
