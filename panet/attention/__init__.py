"""Pyramid attention (Mei et al., 2020): the module and its interchangeable implementations.

``pyramid`` (the ``PyramidAttention`` module: embeddings, pyramid, implementation registry),
``faithful`` (the authors' algorithm step by step, the reference), ``fast`` (the same function
through box sums, blocked, with a custom backward), ``native`` (the C kernels in
``kernels/``, compiled on first use).
"""

from panet.attention.pyramid import (
    IMPLEMENTATIONS,
    PyramidAttention,
    attention_setup,
    build_pyramid,
    fastest_implementation,
    level_scales,
    pyramid_sizes,
    resolve_implementation,
    validate_scales,
)

__all__ = [
    "IMPLEMENTATIONS",
    "PyramidAttention",
    "attention_setup",
    "build_pyramid",
    "fastest_implementation",
    "level_scales",
    "pyramid_sizes",
    "resolve_implementation",
    "validate_scales",
]
