"""Required config values that survive a merge.

OmegaConf keeps the old value when a config merged over it says ``???``, so a group file that
extends another (``data/folder.yaml`` extends ``data/embedded.yaml``) cannot mark an inherited key
as missing that way: ``data=folder`` would silently train on the embedded photographs. Such keys
say ``${required:<key>,'<what to give>'}`` instead; any value given on the command line or in an
experiment replaces the interpolation, and resolving it unreplaced raises ``ConfigError``
naming the key.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from panet.cli.config_checks import ConfigError

RESOLVER = "required"
#: ``data=paired``'s LQ folder: required unless ``data.train_source`` holds the pairs itself.
PAIRED_RESOLVER = "lq_source_unless_paired"


def required(key: str, what: str = "a value") -> None:
    """The resolver: always raises, naming ``key`` and what to set it to."""
    raise ConfigError(
        f"{key} is required and not set: give {what} on the command line, e.g. {key}=..."
    )


def lq_source_unless_paired(train_source: str) -> None:
    """The resolver of ``data.train_lq_source`` under ``data=paired``: None (the pairs come from
    ``train_source``) when that folder is in a paired layout, else the key is required. A
    folder that does not exist (yet) is left to the data module's own "no such folder" error,
    so that experiments compose on machines without their data."""
    from data.pairs import has_paired_layout

    if Path(train_source).is_dir() and not has_paired_layout(train_source):
        required(
            "data.train_lq_source",
            "the folder of degraded images paired by name with data.train_source (or make "
            "data.train_source a folder in a paired layout: <set>/input/ + <set>/target/ (or "
            "groundtruth/), or GoPro's <sequence>/blur/ + sharp/)",
        )


def register_required_resolver() -> None:
    """Register ``${required:...}`` and ``${lq_source_unless_paired:...}`` (idempotent)."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, required)
    if not OmegaConf.has_resolver(PAIRED_RESOLVER):
        OmegaConf.register_new_resolver(PAIRED_RESOLVER, lq_source_unless_paired)


__all__ = [
    "PAIRED_RESOLVER",
    "RESOLVER",
    "lq_source_unless_paired",
    "register_required_resolver",
    "required",
]
