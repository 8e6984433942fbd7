"""Pyramid attention module (Mei et al., "Pyramid Attention Networks for Image Restoration",
2020): every query patch attends to the patches of a multi-scale pyramid of the same features.

The module owns the embeddings and the pyramid; the attention arithmetic itself is delegated to
an interchangeable implementation (``panet.attention.dispatch.IMPLEMENTATIONS``): ``"faithful"``
follows the authors' algorithm step by step, ``"fast"`` computes the same function with far less
work in memory bounded by a budget (blocked queries and key tiles; native CPU kernels, plain
PyTorch elsewhere), ``"triton"`` is a fused GPU kernel of the same function, ``"dense"`` that
form as plain tensor operations (``torch.compile``-able), ``"compiled"`` is ``dense`` under
``torch.compile``, and ``"auto"`` (the default) picks by device and memory plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from panet.attention.dispatch import IMPLEMENTATIONS as _REGISTERED
from panet.attention.dispatch import attend, auto_attention, implementation_names
from panet.attention.faithful import KEY_NORM_EPS

AttentionFn = Callable[..., Tensor]

#: Every name ``impl`` accepts (``auto`` and the registered implementations).
IMPLEMENTATIONS: tuple[str, ...] = tuple(implementation_names())


def resolve_implementation(name: str) -> AttentionFn:
    """The attention function registered as ``name`` (``"auto"``: the dispatcher), called
    without the dispatcher's checks."""
    if name == "auto":
        return auto_attention
    if name not in _REGISTERED:
        raise ValueError(
            f"unknown attention implementation {name!r}; choose one of {sorted(IMPLEMENTATIONS)}"
        )
    return _REGISTERED[name].function()


def conv_prelu(in_channels: int, out_channels: int) -> nn.Sequential:
    """1x1 convolution followed by a one-slope PReLU (keys ``0.weight``, ``0.bias``,
    ``1.weight``): the authors' ``BasicBlock`` used for the attention embeddings."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.PReLU())


def level_scales(levels: int) -> tuple[float, ...]:
    """The paper's pyramid ``1 - i/10`` for ``i < levels`` (levels 5 -> 1.0, 0.9, ..., 0.6)."""
    if not 1 <= levels <= 10:
        raise ValueError(f"levels must be between 1 and 10, got {levels}")
    return tuple(1 - i / 10 for i in range(levels))


def validate_scales(scales: Sequence[float]) -> tuple[float, ...]:
    """``scales`` as a tuple of floats, each in (0, 1]; at least one."""
    scales = tuple(float(s) for s in scales)
    if not scales:
        raise ValueError("pyramid scales must contain at least one scale, e.g. (1.0,)")
    bad = [s for s in scales if not 0 < s <= 1]
    if bad:
        raise ValueError(f"pyramid scales must lie in (0, 1], got {scales} (bad: {bad})")
    return scales


def pyramid_sizes(height: int, width: int, scales: Sequence[float]) -> list[tuple[int, int]]:
    """Size ``(floor(H*s), floor(W*s))`` of every level (PyTorch 1.1 ``interpolate`` rule);
    raises ValueError naming the input size and the scales when a level would be empty."""
    sizes = [(math.floor(height * s), math.floor(width * s)) for s in scales]
    empty = [s for s, (h, w) in zip(scales, sizes, strict=True) if h < 1 or w < 1]
    if empty:
        raise ValueError(
            f"input of size {height}x{width} is too small for pyramid scales {tuple(scales)}: "
            f"level(s) {empty} would be empty; use a larger input or larger scales"
        )
    return sizes


def build_pyramid(x: Tensor, scales: Sequence[float]) -> list[Tensor]:
    """Bicubically resized copies of ``x`` [B, C, H, W], one per scale (scale 1 is ``x``).

    Sizes are ``floor(H*s) x floor(W*s)`` and sampling uses the ratio of the sizes, as
    PyTorch 1.1's ``interpolate(x, scale_factor=s)`` did (the authors' training setup);
    sampling with ``s`` itself changes the module's output by ~19%.
    """
    sizes = pyramid_sizes(x.shape[-2], x.shape[-1], scales)
    levels = []
    for s, size in zip(scales, sizes, strict=True):
        if s == 1:
            levels.append(x)
        else:
            levels.append(F.interpolate(x, size=size, mode="bicubic", align_corners=False))
    return levels


class PyramidAttention(nn.Module):
    """Pyramid attention block: ``y = A(x) + res_scale * x``.

    Args:
        channels: feature channels ``C`` of the input.
        reduction: the query/key embeddings have ``C // reduction`` channels.
        levels: pyramid of ``levels`` scales ``1 - i/10``; ignored when ``scales`` is given.
        scales: explicit pyramid scales in (0, 1] (1 means the input itself).
        patch_size: odd matching/pasting patch size (3 = block-wise, 1 = pixel-wise).
        softmax_scale: multiplier of the matching scores before the softmax.
        res_scale: weight of the residual input.
        hard: use the one-hot of the best match instead of softmax weights (ablation).
        impl: name of the attention implementation (see ``IMPLEMENTATIONS``).
        memory_budget_mb: working memory of the attention's score-sized buffers (MiB); None:
            the process's or the device's default (``panet.attention.budget``).

    Submodules ``conv_match_L_base`` (query), ``conv_match`` (key), ``conv_assembly`` (value),
    each a 1x1 conv + PReLU, and the buffer ``escape_NaN`` match the authors' checkpoint keys.
    Input/output: ``[B, C, H, W]`` float features (any range).
    """

    def __init__(
        self,
        channels: int = 64,
        reduction: int = 2,
        levels: int = 5,
        scales: Sequence[float] | None = None,
        patch_size: int = 3,
        softmax_scale: float = 10.0,
        res_scale: float = 1.0,
        hard: bool = False,
        impl: str = "auto",
        memory_budget_mb: float | None = None,
    ) -> None:
        super().__init__()
        if channels < 1 or reduction < 1 or channels // reduction < 1:
            raise ValueError(
                f"need channels >= reduction >= 1, got channels={channels}, reduction={reduction}"
            )
        if patch_size < 1 or patch_size % 2 == 0:
            raise ValueError(f"patch_size must be a positive odd integer, got {patch_size}")
        self.scales = validate_scales(level_scales(levels) if scales is None else scales)
        self.patch_size = patch_size
        self.softmax_scale = float(softmax_scale)
        self.res_scale = float(res_scale)
        self.hard = hard
        self.memory_budget_mb = memory_budget_mb
        self.use_implementation(impl)
        embed = channels // reduction
        self.conv_match_L_base = conv_prelu(channels, embed)
        self.conv_match = conv_prelu(channels, embed)
        self.conv_assembly = conv_prelu(channels, channels)
        self.register_buffer("escape_NaN", torch.tensor([KEY_NORM_EPS]))

    def use_implementation(self, impl: str) -> None:
        """Run the attention by ``impl`` from now on (every implementation is exact)."""
        if impl not in IMPLEMENTATIONS:
            raise ValueError(
                f"unknown attention implementation {impl!r}; choose one of "
                f"{sorted(IMPLEMENTATIONS)}"
            )
        self.impl = impl
        self._attend = partial(attend, impl, memory_budget_mb=self.memory_budget_mb)

    def extra_repr(self) -> str:
        return (
            f"scales={self.scales}, patch_size={self.patch_size}, "
            f"softmax_scale={self.softmax_scale}, res_scale={self.res_scale}, "
            f"hard={self.hard}, impl={self.impl!r}"
        )

    def embed(self, x: Tensor) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """Query ``f(x)`` [B, c, H, W], keys ``g(z_s)`` [B, c, Hl, Wl] and values ``θ(z_s)``
        [B, C, Hl, Wl] per level (the 1x1 convs act on the resized *input* features)."""
        pyramid = build_pyramid(x, self.scales)
        query = self.conv_match_L_base(x)
        keys = [self.conv_match(z) for z in pyramid]
        values = [self.conv_assembly(z) for z in pyramid]
        return query, keys, values

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` -> ``[B, C, H, W]``.

        Under ``torch.autocast`` the whole block (embeddings, scores, log-sum-exp, softmax,
        paste) runs in float32 and returns float32: scores of PA-EDSR's 0-255 features times
        the softmax scale reach ~1e4-1e5, past float16's range, and a bfloat16 query or key
        (8 mantissa bits) moves such scores by tens, which changes a near-one-hot softmax.
        The embeddings are 1x1 convs, a small share of the block's work.
        """
        device_type = x.device.type
        if torch.is_autocast_enabled(device_type):
            with torch.autocast(device_type, enabled=False):
                return self._forward(x.float())
        return self._forward(x)

    def _forward(self, x: Tensor) -> Tensor:
        query, keys, values = self.embed(x)
        out = self._attend(
            query,
            keys,
            values,
            patch_size=self.patch_size,
            softmax_scale=self.softmax_scale,
            hard=self.hard,
        )
        return out + self.res_scale * x

    @torch.no_grad()
    def attention_map(self, x: Tensor, query_yx: tuple[int, int]) -> list[Tensor]:
        """Attention weights of the query patch centred at ``query_yx`` = (row, col).

        Args:
            x: input features ``[B, C, H, W]``.
            query_yx: query position, ``0 <= row < H``, ``0 <= col < W``.

        Returns:
            One ``[B, Hl, Wl]`` tensor per pyramid level: the joint softmax weights (one-hot
            of the best match when ``hard``) of that query over the keys of each level; the
            weights of all levels together sum to 1 (softmax) per batch element.
        """
        row, col = query_yx
        height, width = x.shape[-2:]
        if not (0 <= row < height and 0 <= col < width):
            raise ValueError(f"query position {query_yx} lies outside the {height}x{width} input")
        with torch.autocast(x.device.type, enabled=False):  # float32 scores, as forward
            return self._attention_map(x.float(), row, col)

    def _attention_map(self, x: Tensor, row: int, col: int) -> list[Tensor]:
        """``attention_map`` on float32 ``x`` with autocast off."""
        query, keys, _ = self.embed(x)
        k, pad = self.patch_size, self.patch_size // 2
        query_patch = F.pad(query, (pad, pad, pad, pad))[:, :, row : row + k, col : col + k]
        scores = [patch_scores(query_patch, key) for key in keys]
        weights = F.softmax(torch.cat(scores, dim=1) * self.softmax_scale, dim=1)
        if self.hard:
            weights = (weights == weights.max(dim=1, keepdim=True).values).to(weights.dtype)
        sizes = [key.shape[-2] * key.shape[-1] for key in keys]
        return [
            w.reshape(x.shape[0], key.shape[-2], key.shape[-1])
            for w, key in zip(weights.split(sizes, dim=1), keys, strict=True)
        ]


def patch_scores(query_patch: Tensor, key: Tensor) -> Tensor:
    """Dot products ``[B, h*w]`` of one query patch per image (``[B, c, k, k]``) with every
    zero-padded ``k x k`` key patch of ``key`` [B, c, h, w], each key patch divided by
    ``max(||patch||, 1e-4)``: a convolution with the query patch over the key map and a box sum
    of the key energy, so memory grows with the key map, not ``k²`` times it (unfolding)."""
    batch, _, k, _ = query_patch.shape
    pad = k // 2
    dots = torch.cat(
        [F.conv2d(key[b : b + 1], query_patch[b : b + 1], padding=pad) for b in range(batch)]
    )
    energy = F.conv2d(key.pow(2).sum(dim=1, keepdim=True), key.new_ones(1, 1, k, k), padding=pad)
    return (dots / energy.sqrt().clamp_min(KEY_NORM_EPS)).flatten(1)


def attention_setup(
    channels: int,
    res_scale: float,
    *,
    levels: int,
    scales: Sequence[float] | None,
    patch_size: int,
    softmax_scale: float,
    reduction: int,
    hard: bool,
    attention_impl: str,
) -> tuple[dict[str, Any], Callable[[], PyramidAttention]]:
    """The attention part of a network's ``arch_args`` and a maker of its attention blocks.

    Returns ``(options, make_attention)``: ``options`` holds the keys ``levels``, ``scales``
    (a tuple of floats, or None), ``patch_size``, ``softmax_scale`` (a float), ``reduction``,
    ``hard`` and ``attention_impl``, as saved in checkpoints; ``make_attention()`` builds a
    fresh ``PyramidAttention`` on ``channels`` features with those options and ``res_scale``.
    """
    options: dict[str, Any] = {
        "levels": levels,
        "scales": None if scales is None else tuple(float(s) for s in scales),
        "patch_size": patch_size,
        "softmax_scale": float(softmax_scale),
        "reduction": reduction,
        "hard": hard,
        "attention_impl": attention_impl,
    }
    make_attention = partial(
        PyramidAttention,
        channels=channels,
        reduction=reduction,
        levels=levels,
        scales=options["scales"],
        patch_size=patch_size,
        softmax_scale=options["softmax_scale"],
        res_scale=res_scale,
        hard=hard,
        impl=attention_impl,
    )
    return options, make_attention


def use_attention_implementation(net: nn.Module, impl: str) -> nn.Module:
    """Run every attention of ``net`` (pyramid and cross-scale) by ``impl``: the evaluation
    and restore tools use this so that a whole image goes through the configured (by default
    memory-bounded) implementation, whatever the checkpoint was trained with."""
    for module in net.modules():
        if hasattr(module, "use_implementation"):
            module.use_implementation(impl)
    return net
