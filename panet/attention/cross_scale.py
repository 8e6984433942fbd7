"""CSNLN's two attentions (Mei et al., "Image Super-Resolution with Cross-Scale Non-Local
Attention and Exhaustive Self-Exemplars Mining", CVPR 2020), batched.

* ``InScaleAttention``: the pixel-wise non-local block of the SEM cell (no temperature, no
  normalisation, no residual).
* ``CrossScaleAttention``: 3x3 query patches of the LR features matched against L2-normalised
  3x3 key patches of the features bilinearly downscaled by the up-factor ``u``; the weights
  paste the ``3u x 3u`` value patches that sit ``u`` times larger in the LR features, so the
  output is ``u`` times the input size.

The authors loop over the batch in Python; here every step takes the whole batch (grouped
convolutions in ``faithful_cross_scale``). ``impl="fast"`` computes the same function through
the box-sum form of ``panet.attention.cross_scale_fast``. Submodule and buffer names equal the
authors' checkpoint keys (``conv_match1``/``conv_match_1`` differ on purpose, as theirs do).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from panet.attention.faithful import KEY_NORM_EPS
from panet.attention.pyramid import patch_scores

#: Fixed divisor of the pasted cross-scale output (the authors' constant; PANet's is 4).
CROSS_SCALE_DIVISOR = 6.0

#: Cross-scale implementations by name, as "module:function" (imported on first use); every
#: box-sum pyramid implementation (``pyramid.impl``: fast, auto, dense, compiled) also names
#: the box-sum cross-scale attention run through it, so one ``impl`` serves both attentions.
CROSS_SCALE_IMPLEMENTATIONS: dict[str, str] = {
    "faithful": "panet.attention.cross_scale:faithful_cross_scale",
    "fast": "panet.attention.cross_scale_fast:fast_cross_scale",
}
BOX_SUM_PYRAMIDS: tuple[str, ...] = ("fast", "auto", "triton", "dense", "compiled")

CrossScaleFn = Callable[..., Tensor]


def resolve_cross_scale(name: str) -> CrossScaleFn:
    """The cross-scale attention function registered as ``name``."""
    if name in BOX_SUM_PYRAMIDS and name != "fast":
        from panet.attention.cross_scale_fast import fast_cross_scale

        return functools.partial(fast_cross_scale, pyramid_impl=name)
    if name not in CROSS_SCALE_IMPLEMENTATIONS:
        raise ValueError(
            f"unknown cross-scale attention implementation {name!r}; choose one of "
            f"{sorted({*CROSS_SCALE_IMPLEMENTATIONS, *BOX_SUM_PYRAMIDS})}"
        )
    module_name, function_name = CROSS_SCALE_IMPLEMENTATIONS[name].split(":")
    return getattr(importlib.import_module(module_name), function_name)


def conv_prelu(in_channels: int, out_channels: int) -> nn.Sequential:
    """1x1 convolution + one-slope PReLU (keys ``0.weight``, ``0.bias``, ``1.weight``)."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.PReLU())


def check_cross_scale_inputs(query: Tensor, key: Tensor, value: Tensor, up_factor: int) -> None:
    """Raise ValueError unless the shapes fit the cross-scale attention functions."""
    if up_factor < 1:
        raise ValueError(f"up_factor must be >= 1, got {up_factor}")
    if query.dim() != 4 or key.dim() != 4 or value.dim() != 4:
        raise ValueError(
            "query, key and value must be 4-D [B, C, H, W]; got shapes "
            f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
        )
    batch, channels, height, width = query.shape
    if height % up_factor or width % up_factor:
        raise ValueError(
            f"cross-scale attention needs a feature size divisible by the up-factor "
            f"{up_factor}, got {height}x{width}; pad the input to a multiple of {up_factor} "
            "(panet.inference.padding does so for whole images)"
        )
    small = (batch, channels, height // up_factor, width // up_factor)
    if tuple(key.shape) != small:
        raise ValueError(
            f"key must be {list(small)} for query {list(query.shape)}, got {list(key.shape)}"
        )
    if value.shape[0] != batch or tuple(value.shape[2:]) != (height, width):
        raise ValueError(f"value must be [{batch}, C, {height}, {width}], got {list(value.shape)}")


def normalized_key_patches(key: Tensor, patch_size: int = 3) -> Tensor:
    """All zero-padded ``k x k`` patches of ``key`` [B, c, h, w], each divided by
    ``max(||patch||_2, 1e-4)``: ``[B, h*w, c, k, k]``."""
    batch, channels = key.shape[:2]
    cols = F.unfold(key, patch_size, padding=patch_size // 2)  # [B, c*k*k, L]
    cols = cols / cols.norm(dim=1, keepdim=True).clamp_min(KEY_NORM_EPS)
    return cols.transpose(1, 2).reshape(batch, -1, channels, patch_size, patch_size)


def value_patches(value: Tensor, up_factor: int, patch_size: int = 3) -> Tensor:
    """The ``ku x ku`` patches of ``value`` [B, C, H, W] cut with stride ``u`` and 'same'
    zero padding (``u`` per side for k = 3): ``[B, (H/u)*(W/u), C, ku, ku]``."""
    batch, channels = value.shape[:2]
    size = patch_size * up_factor
    pad = (size - up_factor) // 2
    cols = F.unfold(value, size, padding=pad, stride=up_factor)  # [B, C*ku*ku, L]
    return cols.transpose(1, 2).reshape(batch, -1, channels, size, size)


def faithful_cross_scale(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    *,
    up_factor: int,
    softmax_scale: float = 10.0,
    hard: bool = False,
) -> Tensor:
    """Cross-scale attention output, the authors' algorithm on the whole batch at once.

    Args:
        query: ``θ(x)`` on the LR grid, ``[B, c, H, W]`` (H, W multiples of ``up_factor``).
        key: ``φ(y)`` of the input downscaled by ``up_factor``, ``[B, c, H/u, W/u]``.
        value: ``g(x)`` on the LR grid, ``[B, C, H, W]``.
        up_factor: ``u`` (2 for x2/x4, 3 for x3).
        softmax_scale: multiplier of the matching scores before the softmax (10).
        hard: one-hot of the best match instead of the softmax weights (ablation).

    Returns:
        ``[B, C, u*H, u*W]``: every LR query position pastes the weighted sum of ``3u x 3u``
        value patches at ``u`` times its position (overlaps add up), divided by 6.
    """
    check_cross_scale_inputs(query, key, value, up_factor)
    batch, embed, height, width = query.shape
    channels = value.shape[1]
    keys = normalized_key_patches(key)  # [B, L, c, 3, 3]
    patches = value_patches(value, up_factor)  # [B, L, C, 3u, 3u]
    n_keys = keys.shape[1]
    # one grouped convolution per step instead of the authors' loop over images
    scores = F.conv2d(
        query.reshape(1, batch * embed, height, width),
        keys.reshape(batch * n_keys, embed, 3, 3),
        padding=1,
        groups=batch,
    ).view(batch, n_keys, height, width)
    weights = F.softmax(scores * softmax_scale, dim=1)
    if hard:
        weights = (weights == weights.max(dim=1, keepdim=True).values).to(weights.dtype)
    pasted = F.conv_transpose2d(
        weights.reshape(1, batch * n_keys, height, width),
        patches.reshape(batch * n_keys, channels, 3 * up_factor, 3 * up_factor),
        stride=up_factor,
        padding=up_factor,
        groups=batch,
    )
    return pasted.view(batch, channels, up_factor * height, up_factor * width) / CROSS_SCALE_DIVISOR


def downscale(x: Tensor, up_factor: int) -> Tensor:
    """``x`` bilinearly downscaled by ``up_factor`` exactly as the authors call it
    (``scale_factor=1/u``, ``align_corners=False``)."""
    return F.interpolate(x, scale_factor=1.0 / up_factor, mode="bilinear", align_corners=False)


class InScaleAttention(nn.Module):
    """In-scale non-local attention: ``softmax(θ(x)^T φ(x)) g(x)`` over all positions.

    θ, φ: 1x1 conv ``C -> C/reduction`` + PReLU (``conv_match1``, ``conv_match2``); g: 1x1
    conv ``C -> C`` + PReLU (``conv_assembly``). No temperature, no residual.
    Input/output ``[B, C, H, W]``. Runs through PyTorch's ``scaled_dot_product_attention``
    (scale 1), whose CPU flash kernel and CUDA memory-efficient kernels tile queries and keys
    with an online softmax, forward and backward: memory grows with ``H*W``, not ``(H*W)^2``
    (the authors' ``[H*W, H*W]`` map: 17 GB for a 256x256 LR input). Those kernels need one
    head size for queries, keys and values, so θ and φ (``C/reduction`` channels) are
    zero-padded to ``C``: zeros add nothing to a dot product.
    """

    def __init__(self, channels: int = 128, reduction: int = 2) -> None:
        super().__init__()
        if channels < 1 or reduction < 1 or channels // reduction < 1:
            raise ValueError(
                f"need channels >= reduction >= 1, got channels={channels}, reduction={reduction}"
            )
        embed = channels // reduction
        self.conv_match1 = conv_prelu(channels, embed)
        self.conv_match2 = conv_prelu(channels, embed)
        self.conv_assembly = conv_prelu(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` -> ``[B, C, H, W]``."""
        batch, _, height, width = x.shape
        # contiguous [B, N, C]: the fused kernels need a unit stride along channels (a
        # transposed view silently takes the [N, N] math path)
        value = self.conv_assembly(x).flatten(2).transpose(1, 2).contiguous()
        channels = value.shape[2]

        def tokens(conv: nn.Module) -> Tensor:  # [B, 1, N, C], zero-padded past c
            embedded = conv(x).flatten(2).transpose(1, 2)
            return F.pad(embedded, (0, channels - embedded.shape[2])).unsqueeze(1).contiguous()

        out = F.scaled_dot_product_attention(
            tokens(self.conv_match1), tokens(self.conv_match2), value.unsqueeze(1), scale=1.0
        )
        return out[:, 0].transpose(1, 2).reshape(batch, channels, height, width)


class CrossScaleAttention(nn.Module):
    """Cross-scale non-local attention: ``[B, C, H, W]`` -> ``[B, C, u*H, u*W]``.

    Args:
        channels: feature channels ``C``.
        up_factor: ``u``, the ratio between the LR features and their downscaled copy, and
            the output's upscaling (2 for x2/x4, 3 for x3).
        reduction: query/key embeddings have ``C // reduction`` channels (2).
        softmax_scale: multiplier of the scores before the softmax (10).
        hard: one-hot of the best match instead of the softmax (ablation).
        impl: ``"faithful"`` (the authors' algorithm, batched), ``"fast"`` (box sums), or
            any box-sum pyramid implementation name (``auto``, ``triton``, ...).
        memory_budget_mb: working memory of the box-sum implementations (MiB); None: the
            process's or the device's default (``panet.attention.budget``).

    Submodules ``conv_match_1`` (query, on x), ``conv_match_2`` (key, on x downscaled),
    ``conv_assembly`` (value, on x) and the buffer ``escape_NaN`` match the authors' keys.
    H and W must be multiples of ``u``.
    """

    patch_size = 3

    def __init__(
        self,
        channels: int = 128,
        up_factor: int = 2,
        reduction: int = 2,
        softmax_scale: float = 10.0,
        hard: bool = False,
        impl: str = "auto",
        memory_budget_mb: float | None = None,
    ) -> None:
        super().__init__()
        if up_factor < 1:
            raise ValueError(f"up_factor must be >= 1, got {up_factor}")
        if channels < 1 or reduction < 1 or channels // reduction < 1:
            raise ValueError(
                f"need channels >= reduction >= 1, got channels={channels}, reduction={reduction}"
            )
        self.up_factor = int(up_factor)
        self.softmax_scale = float(softmax_scale)
        self.hard = bool(hard)
        self.memory_budget_mb = memory_budget_mb
        self.use_implementation(impl)
        embed = channels // reduction
        self.conv_match_1 = conv_prelu(channels, embed)
        self.conv_match_2 = conv_prelu(channels, embed)
        self.conv_assembly = conv_prelu(channels, channels)
        self.register_buffer("escape_NaN", torch.tensor([KEY_NORM_EPS]))

    def use_implementation(self, impl: str) -> None:
        """Run the cross-scale attention by ``impl`` from now on (all are exact)."""
        attend = resolve_cross_scale(impl)
        if impl in BOX_SUM_PYRAMIDS:
            attend = functools.partial(attend, memory_budget_mb=self.memory_budget_mb)
        self.impl, self._attend = impl, attend

    @property
    def scales(self) -> tuple[float, ...]:
        """Scale of the searched copy relative to the input (for attention-map captions)."""
        return (1.0 / self.up_factor,)

    def extra_repr(self) -> str:
        return (
            f"up_factor={self.up_factor}, softmax_scale={self.softmax_scale}, "
            f"hard={self.hard}, impl={self.impl!r}"
        )

    def embed(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Query ``[B, c, H, W]``, key ``[B, c, H/u, W/u]`` and value ``[B, C, H, W]``."""
        height, width = x.shape[-2:]
        if height % self.up_factor or width % self.up_factor:
            raise ValueError(
                f"CrossScaleAttention(up_factor={self.up_factor}) needs features whose size is "
                f"a multiple of {self.up_factor}, got {height}x{width}; pad the input image to "
                f"a multiple of the network's input_multiple"
            )
        value = self.conv_assembly(x)
        query = self.conv_match_1(x)
        key = self.conv_match_2(downscale(x, self.up_factor))
        return query, key, value

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` -> ``[B, C, u*H, u*W]``."""
        query, key, value = self.embed(x)
        return self._attend(
            query,
            key,
            value,
            up_factor=self.up_factor,
            softmax_scale=self.softmax_scale,
            hard=self.hard,
        )

    @torch.no_grad()
    def attention_map(self, x: Tensor, query_yx: tuple[int, int]) -> list[Tensor]:
        """Weights of the query patch at ``query_yx`` = (row, col) over the downscaled copy:
        a one-element list holding ``[B, H/u, W/u]`` (summing to 1 per image with softmax)."""
        row, col = query_yx
        height, width = x.shape[-2:]
        if not (0 <= row < height and 0 <= col < width):
            raise ValueError(f"query position {query_yx} lies outside the {height}x{width} input")
        query, key, _ = self.embed(x)
        patch = F.pad(query, (1, 1, 1, 1))[:, :, row : row + 3, col : col + 3]
        weights = F.softmax(patch_scores(patch, key) * self.softmax_scale, dim=1)
        if self.hard:
            weights = (weights == weights.max(dim=1, keepdim=True).values).to(weights.dtype)
        return [weights.view(x.shape[0], key.shape[-2], key.shape[-1])]
