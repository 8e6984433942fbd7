"""The one lookup of the network inside a LightningModule, shared by the callbacks that need it."""

from __future__ import annotations

import pytorch_lightning as pl
from torch import nn


def module_network(
    pl_module: pl.LightningModule, attr: str, owner: str, config_key: str
) -> nn.Module:
    """``pl_module.<attr>``, or an error naming the callback (``owner``) and its config key."""
    net = getattr(pl_module, attr, None)
    if not isinstance(net, nn.Module):
        raise AttributeError(
            f"{owner}: the LightningModule has no network attribute {attr!r}; set {config_key}"
        )
    return net
