"""Which pyramid-attention implementation runs a call: ``impl="auto"`` and the checks of an
explicit ``impl``, in the style of xformers' ``fmha`` dispatcher.

Every implementation states what it cannot run (``reasons``: device, dtype, a missing library)
and how much working memory it plans for a call (``planned_bytes``: score-sized buffers; the
inputs, outputs and activations around the call are not counted). ``auto`` walks a short
priority list for the input's device and takes the first implementation with no reason and a
plan within the memory budget (``panet.attention.budget``); when none fits it raises one error
that lists every implementation and why it was refused. An explicit ``impl`` runs unless it
cannot: a capability reason, or a plan larger than the memory free on the device (then the
error says so, instead of an allocator failure deep inside), so the authors' algorithm stays
available wherever it fits.

The bounded implementations (``fast``, ``triton``) cut their work to the budget, so they fit
any image; the unbounded ones hold whole score maps (``faithful``: a few ``[M, H, W]`` maps per
image, all images' under autograd; ``dense``/``compiled``: several ``[B, N, M]`` tensors).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

from panet.attention.budget import (
    free_bytes,
    mebibytes,
    memory_budget_bytes,
    static_budget_bytes,
)
from panet.attention.dense import dense_attention
from panet.attention.faithful import check_attention_inputs
from panet.attention.precision import float32_products
from panet.attention.tiling import multiply_adds

AttentionFn = Callable[..., Tensor]

_log = logging.getLogger("panet.attention")


@dataclass(frozen=True)
class AttentionCall:
    """One call's inputs as the implementations see them (shapes, device, dtype, autograd)."""

    query: Tensor
    keys: tuple[Tensor, ...]
    values: tuple[Tensor, ...]
    patch_size: int
    hard: bool
    memory_budget_mb: float | None = None

    @property
    def device(self) -> torch.device:
        return self.query.device

    @property
    def dtype(self) -> torch.dtype:
        return self.query.dtype

    @property
    def needs_grad(self) -> bool:
        tensors = (self.query, *self.keys, *self.values)
        return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)

    @property
    def queries(self) -> int:
        return self.query.shape[2] * self.query.shape[3]

    @property
    def level_sizes(self) -> list[tuple[int, int]]:
        return [(int(key.shape[2]), int(key.shape[3])) for key in self.keys]

    @property
    def key_count(self) -> int:
        return sum(h * w for h, w in self.level_sizes)

    @cached_property
    def budget_bytes(self) -> int:
        return memory_budget_bytes(self.device, self.memory_budget_mb)

    def multiply_adds(self) -> int:
        """The box-sum form's multiply-adds over the whole input (``tiling.multiply_adds``)."""
        batch, embed, height, width = self.query.shape
        return multiply_adds(
            batch, height, width, self.level_sizes, self.patch_size // 2, embed,
            self.values[0].shape[1],
        )  # fmt: skip


@dataclass(frozen=True)
class Implementation:
    """An attention implementation as the dispatcher knows it."""

    name: str
    target: str  # "module:function", imported on first use
    bounded: bool  # cuts its work to the memory budget
    reasons: Callable[[AttentionCall], list[str]]
    planned_bytes: Callable[[AttentionCall], int]

    def function(self) -> AttentionFn:
        module_name, function_name = self.target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            raise ImportError(
                f"attention implementation {self.name!r} needs module {module_name}, which is "
                f"not available ({error}); use impl='auto'"
            ) from error
        return getattr(module, function_name)

    def refusals(self, call: AttentionCall, limit: int, limit_name: str) -> list[str]:
        """Every reason this implementation cannot run ``call`` within ``limit`` bytes."""
        reasons = self.reasons(call)
        if reasons:
            return reasons
        planned = self.planned_bytes(call)
        if planned > limit:
            return [f"plans {mebibytes(planned)} of working memory, over {limit_name}"]
        return []


def _elements_bytes(call: AttentionCall, elements: float) -> int:
    return int(elements * call.query.element_size())


def _padded_score_elements(call: AttentionCall) -> int:
    pad = call.patch_size // 2
    batch, _, height, width = call.query.shape
    keys = sum((h + 2 * pad) * (w + 2 * pad) for h, w in call.level_sizes)
    return batch * (height + 2 * pad) * (width + 2 * pad) * keys


def _faithful_bytes(call: AttentionCall) -> int:
    # per image: the score map, its scaled copy and the softmax; under autograd every image's
    # scaled scores and weights stay saved until backward
    maps = 3 + (2 * (call.query.shape[0] - 1) if call.needs_grad else 0)
    return _elements_bytes(call, maps * call.queries * call.key_count)


def _dense_bytes(call: AttentionCall) -> int:
    # the pixel scores, the k^2 stacked taps and their sum, scores, weights, the paste's taps
    maps = (2 * call.patch_size**2 + 4) * (2 if call.needs_grad else 1)
    return _elements_bytes(call, maps * _padded_score_elements(call))


def _compiled_bytes(call: AttentionCall) -> int:
    # inductor fuses the taps: pixel scores, scores, weights, pasted weights
    return _elements_bytes(call, 4 * (2 if call.needs_grad else 1) * _padded_score_elements(call))


def _fast_bytes(call: AttentionCall) -> int:
    from panet.attention.fast import plan_fast

    plan = plan_fast(
        call.query, call.keys, call.values, patch_size=call.patch_size, hard=call.hard,
        memory_budget_mb=call.memory_budget_mb,
    )  # fmt: skip
    return _elements_bytes(call, plan.elements)


def _triton_bytes(call: AttentionCall) -> int:
    from panet.attention.triton_attention import planned_bytes

    return planned_bytes(call)


def _no_reasons(call: AttentionCall) -> list[str]:
    del call
    return []


def _compiled_reasons(call: AttentionCall) -> list[str]:
    if call.device.type == "cpu" and not _has_cxx():
        return ["torch.compile on the CPU needs a C++ compiler (none on PATH)"]
    return []


def _has_cxx() -> bool:
    import shutil

    return any(shutil.which(name) for name in ("c++", "g++", "clang++"))


def _triton_reasons(call: AttentionCall) -> list[str]:
    from panet.attention.triton_attention import unsupported_reasons

    return unsupported_reasons(call)


IMPLEMENTATIONS: dict[str, Implementation] = {
    impl.name: impl
    for impl in (
        Implementation(
            "faithful",
            "panet.attention.faithful:faithful_attention",
            False,
            _no_reasons,
            _faithful_bytes,
        ),
        Implementation(
            "fast", "panet.attention.fast:fast_attention", True, _no_reasons, _fast_bytes
        ),
        Implementation(
            "dense", "panet.attention.dense:dense_attention", False, _no_reasons, _dense_bytes
        ),
        Implementation(
            "compiled",
            "panet.attention.dense:compiled_attention",
            False,
            _compiled_reasons,
            _compiled_bytes,
        ),
        Implementation(
            "triton",
            "panet.attention.triton_attention:triton_attention",
            True,
            _triton_reasons,
            _triton_bytes,
        ),
    )
}

#: ``auto``'s priority per device type (others: ``DEFAULT_PRIORITY``). On CUDA ``fast`` runs
#: its pure-PyTorch blocks (GEMMs and box sums); ``triton`` comes after it until the GPU check
#: (``benchmarks/gpu_check.sh``) has measured which is faster.
PRIORITY: dict[str, tuple[str, ...]] = {
    "cpu": ("fast",),
    "cuda": ("fast", "triton"),
}
DEFAULT_PRIORITY: tuple[str, ...] = ("fast",)
#: While ``torch.compile`` traces: ``dense`` (plain tensor operations, so a whole network
#: compiles with ``fullgraph=True``) when its plan fits, else ``fast`` (a graph break).
COMPILING_PRIORITY: tuple[str, ...] = ("dense", "fast")


def implementation_names() -> list[str]:
    """Every name ``impl`` accepts: ``auto`` and the registered implementations."""
    return ["auto", *IMPLEMENTATIONS]


def _implementation(name: str) -> Implementation:
    if name not in IMPLEMENTATIONS:
        raise ValueError(
            f"unknown attention implementation {name!r}; choose one of "
            f"{sorted(implementation_names())}"
        )
    return IMPLEMENTATIONS[name]


def choose(call: AttentionCall) -> Implementation:
    """The first implementation of the device's priority list that can run ``call`` within
    the memory budget; ValueError listing every implementation's refusal when none can."""
    budget_text = f"the attention memory budget of {mebibytes(call.budget_bytes)}"
    priority = PRIORITY.get(call.device.type, DEFAULT_PRIORITY)
    refusals: dict[str, list[str]] = {}
    for name in priority:
        implementation = IMPLEMENTATIONS[name]
        refusal = implementation.refusals(call, call.budget_bytes, budget_text)
        if not refusal:
            return implementation
        refusals[name] = refusal
    for name, implementation in IMPLEMENTATIONS.items():
        if name not in refusals:
            refusals[name] = implementation.refusals(call, call.budget_bytes, budget_text) or [
                f"not tried on {call.device.type}"
            ]
    lines = "; ".join(f"{name}: {', '.join(text)}" for name, text in refusals.items())
    raise ValueError(
        f"no pyramid attention implementation can run a batch of {call.query.shape[0]} at "
        f"{call.query.shape[2]}x{call.query.shape[3]} on {call.device.type} "
        f"({call.dtype}): {lines}. Raise pyramid.memory_budget_mb or split the input "
        "(inference=chop)"
    )


def check_explicit(name: str, call: AttentionCall) -> Implementation:
    """``name``'s implementation when it can run ``call`` (capabilities, and a plan within the
    memory free on the device); else ValueError saying why, in one message."""
    implementation = _implementation(name)
    free = free_bytes(call.device)
    refusal = implementation.refusals(
        call, free, f"the {mebibytes(free)} free on {call.device.type}"
    )
    if refusal:
        raise ValueError(
            f"pyramid attention impl={name} cannot run a batch of {call.query.shape[0]} at "
            f"{call.query.shape[2]}x{call.query.shape[3]} on {call.device.type} "
            f"({call.dtype}): {', '.join(refusal)}; use impl=auto (bounded memory on every "
            "device) or split the input (inference=chop)"
        )
    return implementation


def _compiling_choice(call: AttentionCall) -> str:
    """``COMPILING_PRIORITY`` against a static budget (no device query while tracing)."""
    return "dense" if _dense_bytes(call) <= static_budget_bytes(call.memory_budget_mb) else "fast"


#: Whole inputs above this many multiply-adds announce their plan once (a CPU core does a few
#: 10^10 per second here): a user sees the cost and can choose ``inference=chop`` knowingly.
ANNOUNCE_WORK = 10**11
_announced: set[tuple] = set()


def announce(call: AttentionCall, name: str) -> None:
    """Log, once per input shape and implementation, what a large call will cost."""
    work = call.multiply_adds()
    key = (name, tuple(call.query.shape), call.device.type)
    if work < ANNOUNCE_WORK or key in _announced:
        return
    _announced.add(key)
    batch, _, height, width = call.query.shape
    levels = len(call.keys)
    _log.warning(
        "pyramid attention (impl=%s) on a batch of %d at %dx%d: %s queries x %s keys of %d "
        "level(s), about %.1e multiply-adds in the box-sum form, in memory of at most %s; a "
        "whole large image costs minutes on a CPU (inference=chop splits it, as the authors "
        "did)",
        name, batch, height, width, f"{call.queries:,}", f"{call.key_count:,}", levels,
        float(work), mebibytes(call.budget_bytes),
    )  # fmt: skip


def select(impl: str, call: AttentionCall) -> Implementation:
    """The implementation that runs ``call`` for ``impl`` (checked, and a large call's plan
    announced; while ``torch.compile`` traces, without device queries)."""
    if torch.compiler.is_compiling():
        return _implementation(_compiling_choice(call) if impl == "auto" else impl)
    implementation = choose(call) if impl == "auto" else check_explicit(impl, call)
    announce(call, implementation.name)
    return implementation


def attend(
    impl: str,
    query: Tensor,
    keys: Sequence[Tensor],
    values: Sequence[Tensor],
    *,
    patch_size: int,
    softmax_scale: float,
    hard: bool,
    memory_budget_mb: float | None = None,
) -> Tensor:
    """Pyramid attention by ``impl`` (``"auto"`` or a registered name), checked as the module
    docstring says; the same arguments and result as ``faithful_attention``."""
    check_attention_inputs(query, keys, values, patch_size)
    call = AttentionCall(query, tuple(keys), tuple(values), patch_size, hard, memory_budget_mb)
    implementation = select(impl, call)
    options = dict(patch_size=patch_size, softmax_scale=softmax_scale, hard=hard)
    if implementation.bounded:
        options["memory_budget_mb"] = memory_budget_mb
    # the path torch.compile traces calls dense directly: dynamo does not trace importlib
    function = dense_attention if implementation.name == "dense" else implementation.function()
    if torch.compiler.is_compiling():
        return function(query, keys, values, **options)
    with float32_products(query.device):
        return function(query, keys, values, **options)


def auto_attention(
    query: Tensor,
    keys: Sequence[Tensor],
    values: Sequence[Tensor],
    *,
    patch_size: int,
    softmax_scale: float,
    hard: bool,
    memory_budget_mb: float | None = None,
) -> Tensor:
    """``attend("auto", ...)``: the registered function of ``impl="auto"``."""
    return attend(
        "auto", query, keys, values, patch_size=patch_size, softmax_scale=softmax_scale,
        hard=hard, memory_budget_mb=memory_budget_mb,
    )  # fmt: skip


__all__ = [
    "IMPLEMENTATIONS",
    "PRIORITY",
    "AttentionCall",
    "Implementation",
    "attend",
    "auto_attention",
    "check_explicit",
    "choose",
    "implementation_names",
    "select",
]
