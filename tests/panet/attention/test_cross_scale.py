"""CSNLN's attentions: equal to the re-stated official forward (image by image), batched,
and the fast cross-scale path equal to the faithful one (outputs and gradients)."""

from __future__ import annotations

import pytest
import torch

from panet.attention import cross_scale_fast
from panet.attention.cross_scale import (
    CrossScaleAttention,
    InScaleAttention,
    faithful_cross_scale,
)
from panet.attention.cross_scale_fast import fast_cross_scale
from tests.panet.csnln_reference import reference_cross_scale, reference_in_scale


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def _randomized(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    return module


@pytest.mark.parametrize("impl", ["faithful", "fast"])
@pytest.mark.parametrize(("u", "size"), [(2, (8, 10)), (3, (9, 12)), (2, (6, 6))])
def test_cross_scale_equals_the_official_forward(impl: str, u: int, size: tuple[int, int]):
    module = _randomized(CrossScaleAttention(16, up_factor=u, impl=impl))
    x = torch.randn(3, 16, *size, generator=torch.Generator().manual_seed(1))
    out = module(x)
    assert out.shape == (3, 16, u * size[0], u * size[1])
    assert rel(out, reference_cross_scale(x, module.state_dict(), "", u)) <= 1e-5


def test_hard_cross_scale_equals_the_official_average_false():
    module = _randomized(CrossScaleAttention(8, up_factor=2, hard=True, impl="faithful"))
    x = torch.randn(2, 8, 6, 8, generator=torch.Generator().manual_seed(2))
    ref = reference_cross_scale(x, module.state_dict(), "", 2, hard=True)
    assert rel(module(x), ref) <= 1e-5


def test_in_scale_equals_the_official_forward():
    module = _randomized(InScaleAttention(16))
    x = torch.randn(3, 16, 7, 5, generator=torch.Generator().manual_seed(3))
    assert rel(module(x), reference_in_scale(x, module.state_dict(), "")) <= 1e-5


def _in_scale_by_the_map(module: InScaleAttention, x: torch.Tensor) -> torch.Tensor:
    """The in-scale attention with its whole [N, N] weight map (the authors' formulation)."""
    query = module.conv_match1(x).flatten(2)
    key = module.conv_match2(x).flatten(2)
    value = module.conv_assembly(x).flatten(2)
    weights = torch.softmax(torch.bmm(query.transpose(1, 2), key), dim=2)
    return torch.bmm(value, weights.transpose(1, 2)).view_as(x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_in_scale_gradients_equal_the_whole_map_formulation(dtype: torch.dtype):
    """The tiled kernel (queries and keys zero-padded to the value channels) computes the map
    formulation's function: outputs, input and parameter gradients."""
    module = _randomized(InScaleAttention(16)).to(dtype)
    x = torch.randn(2, 16, 7, 5, generator=torch.Generator().manual_seed(3), dtype=dtype)
    results = []
    for fn in (module, lambda t: _in_scale_by_the_map(module, t)):
        module.zero_grad()
        xi = x.clone().requires_grad_()
        out = fn(xi)
        (out * torch.linspace(-1, 1, out.numel(), dtype=dtype).view_as(out)).sum().backward()
        results.append((out, xi.grad, [p.grad.clone() for p in module.parameters()]))
    (out, gx, gp), (ref, ref_gx, ref_gp) = results
    tolerance = 1e-5 if dtype == torch.float32 else 1e-12
    assert rel(out, ref) <= tolerance
    assert rel(gx, ref_gx) <= 10 * tolerance
    assert max(rel(a, b) for a, b in zip(gp, ref_gp, strict=True)) <= 10 * tolerance


@pytest.mark.parametrize("impl", ["faithful", "fast"])
def test_batch_elements_are_independent(impl: str):
    module = _randomized(CrossScaleAttention(8, up_factor=2, impl=impl))
    x = torch.randn(4, 8, 6, 6, generator=torch.Generator().manual_seed(4))
    whole = module(x)
    alone = torch.cat([module(x[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(whole, alone, rtol=1e-5, atol=1e-6)


def test_keys_match_the_authors():
    keys = set(CrossScaleAttention(8).state_dict())
    assert "escape_NaN" in keys and "conv_match_1.0.weight" in keys
    assert "conv_match_2.1.weight" in keys and "conv_assembly.0.bias" in keys
    assert set(InScaleAttention(8).state_dict()) >= {"conv_match1.0.weight", "conv_match2.1.weight"}


def test_size_not_a_multiple_of_the_up_factor_is_refused():
    with pytest.raises(ValueError, match="multiple of 3"):
        CrossScaleAttention(8, up_factor=3)(torch.randn(1, 8, 9, 10))


def _leaves(u: int, batch=2, embed=4, channels=6, height=6, width=4, dtype=torch.float64):
    gen = torch.Generator().manual_seed(u)
    h, w = u * height, u * width

    def leaf(*shape):
        return torch.randn(*shape, generator=gen, dtype=dtype).requires_grad_()

    return leaf(batch, embed, h, w), leaf(batch, embed, height, width), leaf(batch, channels, h, w)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("u", [1, 2, 3])
def test_fast_equals_faithful_outputs_and_gradients(u: int, dtype: torch.dtype):
    query, key, value = _leaves(u, dtype=dtype)
    outs, grads = [], []
    for fn in (faithful_cross_scale, fast_cross_scale):
        out = fn(query, key, value, up_factor=u, softmax_scale=10.0)
        upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(9), dtype=dtype)
        outs.append(out)
        grads.append(torch.autograd.grad(out, (query, key, value), upstream))
    assert rel(outs[1], outs[0]) <= 1e-5
    for fast, faithful in zip(grads[1], grads[0], strict=True):
        assert rel(fast, faithful) <= 1e-4


@pytest.mark.parametrize("u", [2, 3])
@pytest.mark.parametrize("block_elements", [1, 7000])
def test_fast_row_blocks_and_strided_gradients_equal_faithful(
    u: int, block_elements: int, monkeypatch: pytest.MonkeyPatch
):
    """The paste written block by block into the shuffled output (PhaseShuffleLayout): row
    blocks of 4 rows whose halos overlap their neighbours' rows (budget 1), whole images two
    to a block (budget 7000 at u=2), and an
    upstream gradient that is neither contiguous nor dense (channels-last, expanded)."""
    monkeypatch.setattr(cross_scale_fast, "CROSS_SCALE_BLOCK_ELEMENTS", block_elements)
    query, key, value = _leaves(u, batch=3, height=5, width=3)
    gen = torch.Generator().manual_seed(11)
    outs, grads = [], []
    for fn in (faithful_cross_scale, fast_cross_scale):
        out = fn(query, key, value, up_factor=u, softmax_scale=10.0)
        channels_last = torch.randn(out.shape, generator=gen, dtype=out.dtype).to(
            memory_format=torch.channels_last
        )
        gen = torch.Generator().manual_seed(11)
        outs.append(out)
        loss = (out * channels_last).sum() + out[:, :, ::2].sum()
        grads.append(torch.autograd.grad(loss, (query, key, value)))
    assert rel(outs[1], outs[0]) <= 1e-10
    for fast, faithful in zip(grads[1], grads[0], strict=True):
        assert rel(fast, faithful) <= 1e-10


def test_fast_module_gradients_reach_every_parameter():
    torch.manual_seed(0)
    a = _randomized(CrossScaleAttention(8, up_factor=2, impl="faithful"))
    b = CrossScaleAttention(8, up_factor=2, impl="fast")
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 8, 8, 6)
    for m in (a, b):
        m(x).square().sum().backward()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert rel(pb.grad, pa.grad) <= 1e-4, name


def test_attention_map_is_the_softmax_row_of_the_query():
    module = _randomized(CrossScaleAttention(8, up_factor=2, impl="faithful"))
    x = torch.randn(2, 8, 8, 6)
    (weights,) = module.attention_map(x, (3, 2))
    assert weights.shape == (2, 4, 3)
    torch.testing.assert_close(weights.sum(dim=(1, 2)), torch.ones(2))
    # the map reproduces the paste of that query: one-hot the query's weights and compare
    query, key, value = module.embed(x)
    full = torch.softmax(
        torch.nn.functional.conv2d(
            query[:1],
            torch.nn.functional.unfold(key[:1], 3, padding=1)[0]
            .t()
            .reshape(-1, 4, 3, 3)
            .div(
                torch.nn.functional.unfold(key[:1], 3, padding=1)[0]
                .norm(dim=0)
                .clamp_min(1e-4)
                .view(-1, 1, 1, 1)
            ),
            padding=1,
        )
        * 10,
        dim=1,
    )
    torch.testing.assert_close(full[0, :, 3, 2].view(4, 3), weights[0])


@pytest.mark.parametrize("impl", ["auto", "dense"])
def test_every_pyramid_impl_name_builds_the_cross_scale_attention_exactly(impl: str):
    # model=csnln passes pyramid.impl (default auto) to its cross-scale attention
    torch.manual_seed(0)
    a = _randomized(CrossScaleAttention(8, up_factor=2, impl="faithful"))
    b = CrossScaleAttention(8, up_factor=2, impl=impl)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 8, 8, 6)
    assert rel(b(x), a(x)) <= 1e-5


def test_unknown_cross_scale_impl_names_the_choices():
    with pytest.raises(ValueError, match="choose one of .*auto.*faithful.*fast"):
        CrossScaleAttention(8, up_factor=2, impl="fastest")
