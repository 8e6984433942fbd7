"""Pyramid attention under torch.autocast: scores, log-sum-exp and softmax stay in float32, so
bfloat16/float16 autocast gives the float32 result (within 1e-2) and never overflows, at
PANet's feature range and at PA-EDSR's 0-255 range with softmax scale 10."""

from __future__ import annotations

import pytest
import torch

from panet.attention import PyramidAttention

IMPLS = ["faithful", "fast"]
#: (channels, reduction, feature scale, res_scale): PANet (pixels in [0, 1]) and PA-EDSR (0-255)
RANGES = {"panet": (16, 2, 1.0, 1.0), "pa_edsr": (32, 8, 255.0, 0.1)}


def make(impl: str, name: str) -> tuple[PyramidAttention, torch.Tensor]:
    channels, reduction, scale, res_scale = RANGES[name]
    torch.manual_seed(0)
    module = PyramidAttention(channels, reduction, levels=3, res_scale=res_scale, impl=impl)
    x = torch.rand(2, channels, 12, 11) * scale
    return module, x


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


@pytest.mark.parametrize("name", sorted(RANGES))
@pytest.mark.parametrize("impl", IMPLS)
def test_bf16_autocast_matches_float32(impl: str, name: str) -> None:
    module, x = make(impl, name)
    x32 = x.clone().requires_grad_()
    reference = module(x32)
    reference.sum().backward()
    xa = x.clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(xa)
    out.sum().backward()
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all() and torch.isfinite(xa.grad).all()
    assert rel(out, reference) <= 1e-2
    assert rel(xa.grad, x32.grad) <= 1e-2


@pytest.mark.parametrize("impl", IMPLS)
def test_bf16_input_from_an_autocast_layer_is_attended_in_float32(impl: str) -> None:
    """A bfloat16 input (the output of an autocast conv) is attended like its float32 value."""
    module, x = make(impl, "pa_edsr")
    x16 = x.bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(x16)
    with torch.no_grad():
        reference = module(x16.float())
    assert torch.isfinite(out).all()
    assert rel(out, reference) <= 1e-5


@pytest.mark.parametrize("impl", IMPLS)
def test_fp16_autocast_does_not_overflow_at_pa_edsr_range(impl: str) -> None:
    module, x = make(impl, "pa_edsr")
    with torch.no_grad():
        reference = module(x)
        with torch.autocast("cpu", dtype=torch.float16):
            out = module(x)
    assert torch.isfinite(out).all()
    assert rel(out, reference) <= 1e-2


def test_without_the_float32_guard_bf16_scores_would_drift() -> None:
    """The check above can fail: the same block with its embeddings in bfloat16 (what
    autocast would do without the guard) is off by far more than 1e-2 at the 0-255 range."""
    module, x = make("faithful", "pa_edsr")
    with torch.no_grad():
        reference = module(x)
        query, keys, values = module.embed(x)
        query = query.bfloat16().float()
        keys = [key.bfloat16().float() for key in keys]
        values = [value.bfloat16().float() for value in values]
        drifted = (
            module._attend(query, keys, values, patch_size=3, softmax_scale=10.0, hard=False)
            + module.res_scale * x
        )
    assert rel(drifted, reference) > 1e-2
