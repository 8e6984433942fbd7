"""``impl="auto"`` and explicit implementations: what each refuses and why, the budget's
precedence, the plan announcement, and switching a network's implementation."""

from __future__ import annotations

import logging

import pytest
import torch

from panet.attention import PyramidAttention, budget, dispatch, use_attention_implementation
from panet.attention.budget import (
    DEFAULT_CPU_BUDGET_MB,
    MIB,
    memory_budget_bytes,
    set_memory_budget_mb,
)
from panet.attention.cross_scale import CrossScaleAttention
from panet.attention.dispatch import AttentionCall, check_explicit, choose
from tests.panet.attention.test_fast import random_inputs, rel


def _call(side: int = 12, levels: int = 3, budget_mb: float | None = None, hard: bool = False):
    query, keys, values = random_inputs(2, 8, 4, side, side, levels)
    return AttentionCall(query.detach(), tuple(keys), tuple(values), 3, hard, budget_mb)


@pytest.fixture(autouse=True)
def _no_process_budget(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("PANET_ATTENTION_BUDGET_MB", raising=False)
    set_memory_budget_mb(None)
    yield
    set_memory_budget_mb(None)


def test_auto_takes_fast_on_the_cpu():
    assert choose(_call()).name == "fast"
    assert PyramidAttention(8, 2).impl == "auto"  # the default


def test_auto_walks_the_priority_list_by_memory_plan(monkeypatch: pytest.MonkeyPatch):
    """With dense first in the list, auto takes it while its plan fits the budget and passes
    to the bounded fast path when it does not."""
    monkeypatch.setitem(dispatch.PRIORITY, "cpu", ("dense", "fast"))
    small = _call(side=6, levels=1, budget_mb=64)
    assert choose(small).name == "dense"
    large = _call(side=24, levels=3, budget_mb=0.5)
    assert dispatch.IMPLEMENTATIONS["dense"].planned_bytes(large) > 0.5 * MIB
    assert choose(large).name == "fast"


def test_auto_lists_every_refusal_when_nothing_fits():
    call = _call(side=40, levels=5, budget_mb=0.01)
    with pytest.raises(ValueError) as error:
        choose(call)
    message = str(error.value)
    for name in ("faithful", "fast", "dense", "compiled", "triton"):
        assert f"{name}:" in message
    assert "pyramid.memory_budget_mb" in message and "inference=chop" in message


def test_an_explicit_impl_that_cannot_run_says_why(monkeypatch: pytest.MonkeyPatch):
    call = _call(side=12)
    assert check_explicit("faithful", call).name == "faithful"
    # the authors' algorithm on an input whose score maps exceed the free memory: refused up
    # front with the numbers, not an allocator failure inside it
    monkeypatch.setattr(dispatch, "free_bytes", lambda device: 1000)
    with pytest.raises(ValueError, match=r"impl=faithful cannot run .* free on cpu"):
        check_explicit("faithful", call)
    with pytest.raises(ValueError, match="Triton|CUDA"):
        check_explicit("triton", _call())
    with pytest.raises(ValueError, match="unknown attention implementation 'fastest'"):
        check_explicit("fastest", call)


def test_hard_attention_is_not_offered_to_triton():
    reasons = dispatch.IMPLEMENTATIONS["triton"].reasons(_call(hard=True))
    assert any("hard" in reason for reason in reasons)


def test_budget_precedence(monkeypatch: pytest.MonkeyPatch):
    cpu = torch.device("cpu")
    assert memory_budget_bytes(cpu) == DEFAULT_CPU_BUDGET_MB * MIB
    monkeypatch.setenv("PANET_ATTENTION_BUDGET_MB", "96")
    assert memory_budget_bytes(cpu) == 96 * MIB
    set_memory_budget_mb(48)
    assert memory_budget_bytes(cpu) == 48 * MIB
    assert memory_budget_bytes(cpu, 8) == 8 * MIB
    with pytest.raises(ValueError, match="memory_budget_mb must be a positive number"):
        set_memory_budget_mb(0)
    with pytest.raises(ValueError, match="memory_budget_mb must be a positive number"):
        memory_budget_bytes(cpu, "lots")


def test_the_module_budget_reaches_the_plan(monkeypatch: pytest.MonkeyPatch):
    """A budget given to the module cuts the call into key tiles; the result is the same."""
    seen = []
    real = budget.memory_budget_bytes

    def spy(device, megabytes=None):
        seen.append(megabytes)
        return real(device, megabytes)

    monkeypatch.setattr(dispatch, "memory_budget_bytes", spy)
    torch.manual_seed(0)
    tight = PyramidAttention(8, 2, levels=3, memory_budget_mb=0.25)
    loose = PyramidAttention(8, 2, levels=3)
    loose.load_state_dict(tight.state_dict())
    x = torch.randn(1, 8, 30, 28)
    with torch.no_grad():
        assert rel(tight(x), loose(x)) <= 1e-5
    assert 0.25 in seen and None in seen


def test_large_calls_announce_their_plan_once(caplog, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(dispatch, "ANNOUNCE_WORK", 1000)
    monkeypatch.setattr(dispatch, "_announced", set())
    module = PyramidAttention(8, 2, levels=2)
    with caplog.at_level(logging.WARNING, logger="panet.attention"), torch.no_grad():
        module(torch.randn(1, 8, 10, 9))
        module(torch.randn(1, 8, 10, 9))
        module(torch.randn(1, 8, 11, 9))
    lines = [r.getMessage() for r in caplog.records if r.name == "panet.attention"]
    assert len(lines) == 2  # once per input shape
    assert "impl=fast" in lines[0] and "10x9" in lines[0] and "multiply-adds" in lines[0]
    assert "inference=chop" in lines[0]


def test_use_attention_implementation_switches_every_attention():
    net = torch.nn.Sequential(
        PyramidAttention(8, 2, levels=2, impl="faithful"),
        CrossScaleAttention(8, up_factor=2, impl="faithful"),
    )
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        before = net(x)
        use_attention_implementation(net, "auto")
        after = net(x)
    assert net[0].impl == net[1].impl == "auto"
    assert rel(after, before) <= 1e-5
    with pytest.raises(ValueError, match="unknown attention implementation"):
        use_attention_implementation(net, "nope")
