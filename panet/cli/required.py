"""Required config values that survive a merge.

OmegaConf keeps the old value when a config merged over it says ``???``, so a group file that
extends another (``data/folder.yaml`` extends ``data/embedded.yaml``) cannot mark an inherited key
as missing that way: ``data=folder`` would silently train on the embedded photographs. Such keys
say ``${required:<key>,'<what to give>'}`` instead; any value given on the command line or in an
experiment replaces the interpolation, and resolving it unreplaced raises ``ConfigError``
naming the key.
"""

from __future__ import annotations

from omegaconf import OmegaConf

from panet.cli.config_checks import ConfigError

RESOLVER = "required"


def required(key: str, what: str = "a value") -> None:
    """The resolver: always raises, naming ``key`` and what to set it to."""
    raise ConfigError(
        f"{key} is required and not set: give {what} on the command line, e.g. {key}=..."
    )


def register_required_resolver() -> None:
    """Register ``${required:...}`` (idempotent)."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, required)


__all__ = ["RESOLVER", "register_required_resolver", "required"]
