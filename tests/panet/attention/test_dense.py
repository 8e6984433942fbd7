"""The dense (torch.compile-able) form and ``impl="auto"``: the faithful function, eagerly and
compiled with ``fullgraph=True`` on CPU, and the implementation auto picks per device."""

from __future__ import annotations

import pytest
import torch

from panet.attention import PyramidAttention
from panet.attention.dense import dense_attention
from panet.attention.faithful import faithful_attention
from tests.panet.attention.test_fast import CASES, random_inputs, rel, run


@pytest.mark.parametrize(
    ("batch", "channels", "embed", "height", "width", "levels", "k", "hard"),
    [*CASES, (2, 8, 4, 9, 10, 3, 5, False)],
)
def test_dense_matches_faithful(batch, channels, embed, height, width, levels, k, hard):
    query, keys, values = random_inputs(batch, channels, embed, height, width, levels)
    options = dict(patch_size=k, softmax_scale=10.0, hard=hard)
    ref_out, ref_grads = run(faithful_attention, query, keys, values, **options)
    out, grads = run(dense_attention, query, keys, values, **options)
    assert rel(out, ref_out) <= 1e-5
    for got, want in zip(grads, ref_grads, strict=True):
        assert rel(got, want) <= 1e-4


def test_dense_is_exact_in_float64():
    query, keys, values = random_inputs(2, 8, 4, 9, 8, 5, dtype=torch.float64, seed=3)
    options = dict(patch_size=3, softmax_scale=10.0, hard=False)
    ref_out, ref_grads = run(faithful_attention, query, keys, values, **options)
    out, grads = run(dense_attention, query, keys, values, **options)
    assert rel(out, ref_out) <= 1e-12
    assert max(rel(g, r) for g, r in zip(grads, ref_grads, strict=True)) <= 1e-12


def test_auto_module_equals_faithful():
    torch.manual_seed(0)
    auto = PyramidAttention(8, 2, levels=3, impl="auto")
    faithful = PyramidAttention(8, 2, levels=3, impl="faithful")
    faithful.load_state_dict(auto.state_dict())
    x = torch.randn(2, 8, 9, 10)
    assert rel(auto(x), faithful(x)) <= 1e-5


@pytest.mark.slow
def test_module_compiles_with_fullgraph_and_equals_eager():
    """``torch.compile(module, fullgraph=True)`` with ``impl="auto"`` traces the dense form
    (no graph break), forward and backward, and computes the eager module's function."""
    torch.manual_seed(0)
    module = PyramidAttention(8, 2, levels=2)
    x = torch.randn(2, 8, 7, 6)
    compiled = torch.compile(module, fullgraph=True, backend="aot_eager")
    outs = []
    for fn in (module, compiled):
        module.zero_grad()
        xi = x.clone().requires_grad_()
        out = fn(xi)
        out.square().sum().backward()
        outs.append((out, xi.grad, [p.grad.clone() for p in module.parameters()]))
    (out_e, gx_e, gp_e), (out_c, gx_c, gp_c) = outs
    assert rel(out_c, out_e) <= 1e-5 and rel(gx_c, gx_e) <= 1e-4
    assert max(rel(a, b) for a, b in zip(gp_c, gp_e, strict=True)) <= 1e-4


@pytest.mark.slow
def test_inductor_compiled_dense_equals_eager_on_cpu():
    """The ``compiled`` implementation (inductor: C++ kernels on CPU, Triton on GPU)."""
    from panet.attention.dense import compiled_attention

    query, keys, values = random_inputs(2, 8, 4, 7, 6, 2)
    options = dict(patch_size=3, softmax_scale=10.0, hard=False)
    with torch.no_grad():
        ref = faithful_attention(query, keys, values, **options)
        out = compiled_attention(query, keys, values, **options)
    assert rel(out, ref) <= 1e-5


@pytest.mark.parametrize("impl", ["fast", "auto"])
def test_bounded_impls_run_eagerly_inside_torch_compile(impl):
    """``fast`` (ctypes kernels, in-place block buffers) is not traced: under ``torch.compile``
    it runs eagerly behind a graph break and computes the eager module's function, forward and
    backward (``auto`` picks it when ``dense`` would not fit the budget)."""
    torch.manual_seed(0)
    module = PyramidAttention(8, 2, levels=2, impl=impl, memory_budget_mb=0.2)
    compiled = torch.compile(module, backend="eager")
    x = torch.randn(1, 8, 9, 10, requires_grad=True)
    out = compiled(x)
    (grad,) = torch.autograd.grad(out.square().sum(), x)
    x_ref = x.detach().clone().requires_grad_()
    ref = module(x_ref)
    (ref_grad,) = torch.autograd.grad(ref.square().sum(), x_ref)
    assert torch.isfinite(out).all()
    assert rel(out, ref) <= 1e-6 and rel(grad, ref_grad) <= 1e-5
