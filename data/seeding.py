"""Evaluation randomness as a pure function of (image name, degradation).

Every model, run and machine must see the same noisy evaluation inputs, independently of
data-loader workers and iteration order, so each image gets its own generator seeded from a
SHA-256 of its name and its degradation's ``describe()`` (never Python's salted ``hash()``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Protocol

import torch


class Describable(Protocol):
    def describe(self) -> dict[str, object]: ...


def eval_seed(name: str, degradation: Describable) -> int:
    """A 63-bit seed derived from the image name and the degradation's parameters."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"image name must be a non-empty string; got {name!r}")
    describe = getattr(degradation, "describe", None)
    if not callable(describe):
        raise TypeError(
            f"degradation must have a describe() method; got {type(degradation).__name__}"
        )
    payload = json.dumps(
        {"image": name, "degradation": describe()}, sort_keys=True, separators=(",", ":")
    )
    digest = hashlib.sha256(payload.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def eval_generator(name: str, degradation: Describable) -> torch.Generator:
    """A fresh CPU generator for degrading image ``name`` at evaluation time."""
    generator = torch.Generator(device="cpu")
    generator.manual_seed(eval_seed(name, degradation))
    return generator
