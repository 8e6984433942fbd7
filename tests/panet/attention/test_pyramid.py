"""Pyramid attention against a per-position re-statement of the paper's math."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from panet.attention import (
    PyramidAttention,
    build_pyramid,
    level_scales,
    resolve_implementation,
)
from panet.attention.faithful import faithful_attention

CHANNELS = 8


def _patch(feature: torch.Tensor, y: int, x: int, k: int) -> torch.Tensor:
    """The k x k neighbourhood of (y, x) in feature [C, H, W], zeros outside, flattened."""
    r = k // 2
    padded = F.pad(feature, (r, r, r, r))
    return padded[:, y : y + k, x : x + k].flatten()


def _all_patches(feature: torch.Tensor, k: int) -> torch.Tensor:
    """[H*W, C*k*k]: the neighbourhood of every position, row-major."""
    _, height, width = feature.shape
    return torch.stack([_patch(feature, y, x, k) for y in range(height) for x in range(width)])


def reference_attention(query, keys, values, k, softmax_scale, hard):
    """Steps 3-5 of the spec in float64: patch scores, one joint softmax per query position,
    then every query position pastes its weighted value patch centred on itself."""
    outputs = []
    r = k // 2
    for b in range(query.shape[0]):
        _, height, width = query[b].shape
        channels = values[0].shape[1]
        key_patches = torch.cat([_all_patches(key[b].double(), k) for key in keys])
        key_patches = key_patches / key_patches.norm(dim=1, keepdim=True).clamp_min(1e-4)
        value_patches = torch.cat([_all_patches(value[b].double(), k) for value in values])
        query_patches = _all_patches(query[b].double(), k)  # not normalized
        weights = torch.softmax(query_patches @ key_patches.T * softmax_scale, dim=1)
        if hard:
            weights = (weights == weights.max(dim=1, keepdim=True).values).double()
        pasted = (weights @ value_patches).reshape(height, width, channels, k, k)
        out = torch.zeros(channels, height + 2 * r, width + 2 * r, dtype=torch.float64)
        for y in range(height):
            for x in range(width):
                out[:, y : y + k, x : x + k] += pasted[y, x]  # centred at (y, x), padded coords
        outputs.append(out[:, r : r + height, r : r + width] / 4)
    return torch.stack(outputs)


def reference_module(module: PyramidAttention, x: torch.Tensor) -> torch.Tensor:
    """The whole module from its parts, with PyTorch-1.1 interpolation spelled out."""
    pyramid = [
        x
        if s == 1
        else F.interpolate(
            x, scale_factor=s, mode="bicubic", align_corners=False, recompute_scale_factor=True
        )
        for s in module.scales
    ]
    query = module.conv_match_L_base(x)
    keys = [module.conv_match(z) for z in pyramid]
    values = [module.conv_assembly(z) for z in pyramid]
    attended = reference_attention(
        query, keys, values, module.patch_size, module.softmax_scale, module.hard
    )
    return attended + module.res_scale * x.double()


def _randomize(module: torch.nn.Module, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.3)


@pytest.mark.parametrize("size", [(7, 9), (5, 5), (6, 8)])
@pytest.mark.parametrize("levels", [1, 2, 3, 4, 5])
def test_module_matches_per_position_math(size, levels):
    torch.manual_seed(levels)
    module = PyramidAttention(CHANNELS, reduction=2, levels=levels, impl="faithful")
    _randomize(module, seed=levels)
    x = torch.randn(2, CHANNELS, *size)
    with torch.no_grad():
        torch.testing.assert_close(
            module(x).double(), reference_module(module, x), atol=1e-4, rtol=1e-4
        )


@pytest.mark.parametrize("patch_size", [1, 3])
@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("size", [(7, 9), (4, 3)])
def test_patch_size_and_hard_match_math(patch_size, hard, size):
    torch.manual_seed(patch_size + 2 * hard)
    module = PyramidAttention(
        CHANNELS, levels=3, patch_size=patch_size, hard=hard, res_scale=0.5, impl="faithful"
    )
    _randomize(module, seed=3)
    x = torch.randn(1, CHANNELS, *size)
    with torch.no_grad():
        torch.testing.assert_close(
            module(x).double(), reference_module(module, x), atol=1e-4, rtol=1e-4
        )


def test_faithful_function_matches_math_on_raw_embeddings():
    torch.manual_seed(1)
    query = torch.randn(2, 4, 5, 7)
    keys = [torch.randn(2, 4, 5, 7), torch.randn(2, 4, 3, 4)]
    values = [torch.randn(2, 6, 5, 7), torch.randn(2, 6, 3, 4)]
    got = faithful_attention(query, keys, values, patch_size=3, softmax_scale=10.0, hard=False)
    want = reference_attention(query, keys, values, 3, 10.0, False)
    torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=1e-5)


def test_zero_keys_use_the_norm_floor_not_nan():
    query = torch.randn(1, 4, 3, 3)
    keys = [torch.zeros(1, 4, 3, 3)]
    values = [torch.randn(1, 5, 3, 3)]
    out = faithful_attention(query, keys, values, patch_size=3, softmax_scale=10.0, hard=False)
    assert torch.isfinite(out).all()


def test_pyramid_uses_pytorch_1_1_interpolation():
    x = torch.randn(1, 2, 7, 9)
    level = build_pyramid(x, (0.9,))[0]
    legacy = F.interpolate(
        x, scale_factor=0.9, mode="bicubic", align_corners=False, recompute_scale_factor=True
    )
    modern = F.interpolate(x, scale_factor=0.9, mode="bicubic", align_corners=False)
    assert level.shape[-2:] == (math.floor(7 * 0.9), math.floor(9 * 0.9))
    torch.testing.assert_close(level, legacy)
    assert not torch.allclose(level, modern, atol=1e-3)


def test_levels_are_the_papers_scales():
    assert level_scales(5) == pytest.approx((1.0, 0.9, 0.8, 0.7, 0.6))
    by_levels = PyramidAttention(CHANNELS, levels=3, impl="faithful")
    by_scales = PyramidAttention(CHANNELS, scales=(1.0, 0.9, 0.8), impl="faithful")
    by_scales.load_state_dict(by_levels.state_dict())
    x = torch.randn(1, CHANNELS, 6, 7)
    with torch.no_grad():
        torch.testing.assert_close(by_levels(x), by_scales(x))


def test_gradients_reach_input_and_every_parameter():
    module = PyramidAttention(CHANNELS, levels=3, impl="faithful")
    x = torch.randn(2, CHANNELS, 6, 5, requires_grad=True)
    module(x).square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, p in module.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_checkpoint_keys_match_the_authors():
    keys = set(PyramidAttention(CHANNELS, impl="faithful").state_dict())
    assert keys == {
        "escape_NaN",
        *(
            f"{m}.0.{p}"
            for m in ("conv_match_L_base", "conv_match", "conv_assembly")
            for p in ("weight", "bias")
        ),
        *(f"{m}.1.weight" for m in ("conv_match_L_base", "conv_match", "conv_assembly")),
    }


def test_too_small_input_names_size_and_scales():
    module = PyramidAttention(CHANNELS, scales=(1.0, 0.4), impl="faithful")
    with pytest.raises(ValueError, match=r"2x5.*\(1\.0, 0\.4\)"):
        module(torch.randn(1, CHANNELS, 2, 5))
    assert module(torch.randn(1, CHANNELS, 3, 5)).shape == (1, CHANNELS, 3, 5)


@pytest.mark.parametrize("scales", [(), (0.0,), (1.0, 1.5), (-0.5,)])
def test_invalid_scales_are_rejected(scales):
    with pytest.raises(ValueError, match="scale"):
        PyramidAttention(CHANNELS, scales=scales, impl="faithful")


def test_invalid_options_are_rejected():
    with pytest.raises(ValueError, match="patch_size"):
        PyramidAttention(CHANNELS, patch_size=2, impl="faithful")
    with pytest.raises(ValueError, match="levels"):
        PyramidAttention(CHANNELS, levels=0, impl="faithful")
    with pytest.raises(ValueError, match="unknown attention implementation"):
        resolve_implementation("nope")


@pytest.mark.parametrize("hard", [False, True])
def test_attention_map_is_the_query_row_of_the_softmax(hard):
    module = PyramidAttention(CHANNELS, levels=3, hard=hard, impl="faithful")
    _randomize(module, seed=5)
    x = torch.randn(2, CHANNELS, 6, 7)
    maps = module.attention_map(x, (2, 3))
    assert [m.shape for m in maps] == [(2, 6, 7), (2, 5, 6), (2, 4, 5)]
    total = sum(m.sum(dim=(1, 2)) for m in maps)
    if hard:
        assert (total >= 1).all()
    else:
        torch.testing.assert_close(total, torch.ones(2))
    with torch.no_grad():
        query, keys, _ = module.embed(x)
    flat = torch.cat([m.reshape(2, -1) for m in maps], dim=1).double()
    key_patches = torch.cat([_all_patches(k[0].double(), 3) for k in keys])
    key_patches = key_patches / key_patches.norm(dim=1, keepdim=True).clamp_min(1e-4)
    scores = key_patches @ _patch(query[0].double(), 2, 3, 3) * 10
    want = torch.softmax(scores, dim=0)
    if hard:
        want = (want == want.max()).double()
    torch.testing.assert_close(flat[0], want, atol=1e-5, rtol=1e-4)


def test_attention_map_rejects_positions_outside():
    module = PyramidAttention(CHANNELS, levels=2, impl="faithful")
    with pytest.raises(ValueError, match="outside"):
        module.attention_map(torch.randn(1, CHANNELS, 4, 4), (4, 0))
