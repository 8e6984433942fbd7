"""Fast exact cross-scale attention: the function of ``faithful_cross_scale`` through box sums.

Why it is exact (``shared/docs/pyramid-attention.md``, "The same form for CSNLN's cross-scale
attention"). Matching is pyramid attention's with a single level of keys on the coarse grid:
``score[i, j] = t / ||K_j|| * sum_o P[i + o, j + o]``, ``P = q^T k`` a c-dimensional matmul.
For the paste write an output position as ``u*m + r`` (phase ``r`` in ``{0..u-1}^2``): the
``3u x 3u`` value patch ``j`` (cut from row ``u*j - u``) reaches it from the query neighbours
``m - o`` (``o`` in ``{-1, 0, 1}^2``) with the sample ``v[u*(j + o) + r]``, so

    out_r[m] = sum_o sum_j A[m - o, j] v_r[j + o] = sum_j' B[m, j'] v_r[j'],
    B[m, j'] = sum_o A[m - o, j' - o],   v_r[j'] = v[u*j' + r],

which is the pyramid paste with the value map subsampled at phase ``r``. Stacking the ``u^2``
phase maps along channels (``C*u^2`` channels on the coarse grid) turns the whole cross-scale
attention into one call of the fast pyramid attention (one level, patch 3) followed by a
pixel shuffle, which puts phase ``(ry, rx)`` of channel ``c`` (stacked index
``c*u^2 + ry*u + rx``) at ``(u*m_y + ry, u*m_x + rx)``. That call brings the blocked rows,
the saved log-sum-exp and the recompute-in-backward of ``panet.attention.fast``; its constant
divisor 4 is replaced by the authors' 6 here.
"""

from __future__ import annotations

import inspect

import torch.nn.functional as F
from torch import Tensor

from panet.attention.cross_scale import CROSS_SCALE_DIVISOR, check_cross_scale_inputs
from panet.attention.faithful import OUTPUT_DIVISOR
from panet.attention.pyramid import resolve_implementation

#: Block budget (elements of one score-sized buffer) asked of the fast pyramid attention: the
#: cross-scale score map is small (H*W x H*W/u^2 per image: 1.7M at the 48x48 training shape),
#: so one image per block keeps each of its five workspace buffers near 7 MB instead of the
#: default's 128 MB, at no measurable cost in time.
CROSS_SCALE_BLOCK_ELEMENTS = 1 << 21


def phase_stack(value: Tensor, up_factor: int) -> Tensor:
    """``[B, C, H, W]`` -> ``[B, C*u^2, H/u, W/u]``: channel ``c*u^2 + ry*u + rx`` at ``j`` is
    ``value[c, u*j_y + ry, u*j_x + rx]`` (the inverse of ``pixel_shuffle``)."""
    return F.pixel_unshuffle(value, up_factor)


def _pyramid(name: str, **kwargs) -> Tensor:
    """The registered pyramid attention ``name``, given the block budget when it takes one."""
    attend = resolve_implementation(name)
    if "block_elements" in inspect.signature(attend).parameters:
        kwargs["block_elements"] = CROSS_SCALE_BLOCK_ELEMENTS
    return attend(**kwargs)


def fast_cross_scale(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    *,
    up_factor: int,
    softmax_scale: float = 10.0,
    hard: bool = False,
    pyramid_impl: str = "fast",
) -> Tensor:
    """Same arguments, result and gradients as ``faithful_cross_scale``: ``[B, C, uH, uW]``.

    ``pyramid_impl`` names the box-sum pyramid attention that runs the matching and paste
    (``fast``, or ``auto``/``dense``/``compiled``, which pick or trace the same function)."""
    check_cross_scale_inputs(query, key, value, up_factor)
    # the paste is linear in the values: rescaling them (H*W*C elements) instead of the output
    # (u^2 times more) turns the pyramid constant 4 into the authors' 6 and saves one
    # output-sized tensor in forward and in backward
    stacked = _pyramid(
        pyramid_impl,
        query=query,
        keys=[key],
        values=[phase_stack(value, up_factor) * (OUTPUT_DIVISOR / CROSS_SCALE_DIVISOR)],
        patch_size=3,
        softmax_scale=softmax_scale,
        hard=hard,
    )  # [B, C*u^2, H, W]
    return F.pixel_shuffle(stacked, up_factor)
