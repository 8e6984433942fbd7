"""Pyramid attention (Mei et al., 2020): the module and its interchangeable implementations.

``pyramid`` (the ``PyramidAttention`` module: embeddings, pyramid), ``dispatch`` (the
implementations, what each supports and plans, ``impl="auto"``), ``budget`` (the memory
budget per device), ``faithful`` (the authors' algorithm step by step, the reference), ``fast``
(the same function through box sums, blocked queries and key tiles, custom backward),
``tiling`` (how ``fast`` cuts its work to the budget), ``native`` (the C kernels in
``kernels/``, compiled on first use), ``workspace`` (scratch buffers kept between calls on the
CPU; ``release_workspace`` frees them), ``triton_attention`` (the fused GPU kernels), ``dense``.
"""

from panet.attention.pyramid import (
    IMPLEMENTATIONS,
    PyramidAttention,
    attention_setup,
    build_pyramid,
    level_scales,
    pyramid_sizes,
    resolve_implementation,
    use_attention_implementation,
    validate_scales,
)

__all__ = [
    "IMPLEMENTATIONS",
    "PyramidAttention",
    "attention_setup",
    "build_pyramid",
    "level_scales",
    "pyramid_sizes",
    "resolve_implementation",
    "use_attention_implementation",
    "validate_scales",
]
