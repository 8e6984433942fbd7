"""The fast pyramid attention computes the faithful one's function: outputs, and gradients with
respect to the query, the keys and the values (hence every parameter upstream of them)."""

from __future__ import annotations

import math

import pytest
import torch

from panet.attention import PyramidAttention, fast
from panet.attention import native as native_module
from panet.attention.faithful import faithful_attention
from panet.attention.fast import fast_attention, plan_fast
from panet.attention.native import native_library

SCALES = (1.0, 0.9, 0.8, 0.7, 0.6)

needs_native = pytest.mark.skipif(
    native_library() is None, reason="no C compiler: the native kernels cannot be built"
)
PATHS = [pytest.param(True, marks=needs_native, id="native"), pytest.param(False, id="eager")]


def rel(a: torch.Tensor | None, b: torch.Tensor | None) -> float:
    """Relative L2 distance of ``a`` from the reference ``b``; None means all zeros."""
    if a is None and b is None:
        return 0.0
    a = torch.zeros_like(b) if a is None else a
    b = torch.zeros_like(a) if b is None else b
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def random_inputs(batch, channels, embed, height, width, levels, dtype=torch.float32, seed=0):
    """Query [B,c,H,W], keys [B,c,Hl,Wl] and values [B,C,Hl,Wl] at floor(H*s) x floor(W*s)."""
    gen = torch.Generator().manual_seed(seed)
    sizes = [(math.floor(height * s), math.floor(width * s)) for s in SCALES[:levels]]

    def leaf(*shape):
        return torch.randn(*shape, generator=gen, dtype=dtype).requires_grad_()

    query = leaf(batch, embed, height, width)
    keys = [leaf(batch, embed, h, w) for h, w in sizes]
    values = [leaf(batch, channels, h, w) for h, w in sizes]
    return query, keys, values


def run(fn, query, keys, values, grad_seed=1, **kwargs):
    """Output and gradients (query, *keys, *values) of ``fn`` under a random upstream grad."""
    out = fn(query, keys, values, **kwargs)
    gen = torch.Generator().manual_seed(grad_seed)
    upstream = torch.randn(out.shape, generator=gen, dtype=out.dtype)
    grads = torch.autograd.grad(out, [query, *keys, *values], upstream, allow_unused=True)
    return out, grads


CASES = [
    # batch, C, c, H, W, levels, patch, hard
    (2, 8, 4, 7, 9, 1, 3, False),
    (2, 8, 4, 9, 7, 2, 3, False),
    (2, 8, 6, 11, 6, 3, 1, False),
    (3, 8, 5, 8, 8, 4, 3, True),
    (2, 8, 8, 12, 10, 5, 3, False),
    (2, 8, 4, 10, 11, 5, 1, False),
    (2, 8, 4, 9, 12, 5, 3, True),
    (2, 8, 4, 5, 3, 3, 3, False),  # width 3 at full scale, 1 column at scale 0.6
]


#: How a call is cut: every key at once in one block, in row blocks, or in key tiles of one to
#: three key rows (many tiles per level) or of whole levels (tiles spanning levels), and key
#: tiles with row blocks.
BLOCKINGS = {
    "one-block": dict(block_elements=1 << 22),
    "row-blocks": dict(block_elements=3000),
    "row-tiles": dict(key_tile=40),
    "level-tiles": dict(key_tile=150),
    "tiles-and-rows": dict(key_tile=40, block_elements=1500),
}


@pytest.mark.parametrize("native", PATHS)
@pytest.mark.parametrize("blocking", list(BLOCKINGS))
@pytest.mark.parametrize(
    ("batch", "channels", "embed", "height", "width", "levels", "k", "hard"), CASES
)
def test_fast_matches_faithful(
    batch, channels, embed, height, width, levels, k, hard, blocking, native
):
    query, keys, values = random_inputs(batch, channels, embed, height, width, levels)
    options = dict(patch_size=k, softmax_scale=10.0, hard=hard)
    ref_out, ref_grads = run(faithful_attention, query, keys, values, **options)
    out, grads = run(
        fast_attention, query, keys, values, native=native, **BLOCKINGS[blocking], **options
    )
    assert out.shape == ref_out.shape == (batch, channels, height, width)
    assert rel(out, ref_out) <= 1e-5
    for got, want in zip(grads, ref_grads, strict=True):
        assert rel(got, want) <= 1e-4
    if hard:  # the one-hot is not differentiable: like the faithful version, no score gradient
        assert all(g is None for g in grads[: 1 + levels])
    else:
        assert all(g is not None for g in grads)


@pytest.mark.parametrize("native", PATHS)
@pytest.mark.parametrize("blocking", list(BLOCKINGS))
def test_blockings_cut_as_named(native, blocking):
    """The blockings above do what their names say (so the exactness test covers them)."""
    query, keys, values = random_inputs(2, 8, 8, 12, 10, 5)
    plan = plan_fast(query, keys, values, patch_size=3, hard=False, native=native,
                     **BLOCKINGS[blocking])  # fmt: skip
    tiles, rows = len(plan.tiles), plan.block_rows
    spanning = any(len(tile.spans) > 1 for tile in plan.tiles)
    expected = {
        "one-block": tiles == 1 and rows == 12,
        "row-blocks": tiles == 1 and rows < 12,
        "row-tiles": tiles > 5 and not spanning,
        "level-tiles": 1 < tiles <= 5 and spanning,
        "tiles-and-rows": tiles > 1 and rows < 12,
    }[blocking]
    assert expected, plan


@pytest.mark.parametrize("native", PATHS)
def test_fast_is_exact_in_float64(native):
    query, keys, values = random_inputs(2, 8, 4, 9, 8, 5, dtype=torch.float64, seed=3)
    options = dict(patch_size=3, softmax_scale=10.0, hard=False)
    ref_out, ref_grads = run(faithful_attention, query, keys, values, **options)
    out, grads = run(
        fast_attention, query, keys, values, native=native, block_elements=2000, **options
    )
    assert rel(out, ref_out) <= 1e-12
    assert max(rel(g, r) for g, r in zip(grads, ref_grads, strict=True)) <= 1e-12


# the native soft path computes its pixel scores itself; hard attention still uses the GEMMs
GEMM_PATHS = [
    pytest.param(True, True, marks=needs_native, id="native-hard"),
    pytest.param(False, False, id="eager"),
]


@pytest.mark.parametrize(("native", "hard"), GEMM_PATHS)
@pytest.mark.parametrize("columns", [7, 64])
def test_column_chunked_gemms_are_exact(native, hard, columns, monkeypatch: pytest.MonkeyPatch):
    """The wide score-sized GEMMs in column chunks (``WIDE_GEMM_COLUMNS``; 7 and 64 do not
    divide the 370 padded keys of the 5 levels, so the last chunk is partial), rows and images
    blocked: the same as faithful in float64, forward and backward."""
    monkeypatch.setattr(fast, "WIDE_GEMM_COLUMNS", columns)
    calls = []
    monkeypatch.setattr(fast.torch, "bmm", _counting(fast.torch.bmm, calls))
    query, keys, values = random_inputs(2, 8, 4, 9, 8, 5, dtype=torch.float64, seed=4)
    options = dict(patch_size=3, softmax_scale=10.0, hard=hard)
    ref_out, ref_grads = run(faithful_attention, query, keys, values, **options)
    calls.clear()
    out, grads = run(
        fast_attention, query, keys, values, native=native, block_elements=2000, **options
    )
    assert len(calls) > 370 // columns  # chunked: more products than one per block
    assert rel(out, ref_out) <= 1e-12
    assert max(rel(g, r) for g, r in zip(grads, ref_grads, strict=True)) <= 1e-12


@needs_native
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize(("embed", "channels"), [(4, 8), (7, 13), (70, 5)])
@pytest.mark.parametrize("block_elements", [1 << 22, 2000], ids=["one-block", "row-blocks"])
@pytest.mark.parametrize("pieces_per_thread", [1, 3])
def test_streamed_native_pass_is_exact_for_any_thread_split(
    threads, embed, channels, block_elements, pieces_per_thread, monkeypatch
):
    """The native soft path computes each block's pixel scores in register tiles of 6 rows by
    one panel of keys, from inner dimensions c and C that need not fill a vector, and splits
    the block's rows into pieces taken by the threads as they free up (each recomputes the rows
    next to it): the same as faithful in float64 for every split, including 3 threads on odd
    row counts and more pieces than threads."""
    monkeypatch.setattr(native_module, "PIECES_PER_THREAD", pieces_per_thread)
    query, keys, values = random_inputs(3, channels, embed, 9, 7, 5, dtype=torch.float64, seed=6)
    options = dict(patch_size=3, softmax_scale=10.0, hard=False)
    ref_out, ref_grads = run(faithful_attention, query, keys, values, **options)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        out, grads = run(
            fast_attention, query, keys, values, native=True, block_elements=block_elements,
            **options,
        )  # fmt: skip
    finally:
        torch.set_num_threads(before)
    assert rel(out, ref_out) <= 1e-12
    assert max(rel(g, r) for g, r in zip(grads, ref_grads, strict=True)) <= 1e-12


def _counting(function, calls: list):
    def counted(*args, **kwargs):
        calls.append(1)
        return function(*args, **kwargs)

    return counted


@pytest.mark.parametrize("native", PATHS)
def test_hard_ties_keep_every_maximum(native):
    """Constant query, keys and values: every fully interior key patch of every level ties for
    the maximum score of an interior query, and, as the authors' ``(y == max)``, every tied
    patch is pasted, so a central pixel receives 9 pastes of T ones (then divided by 4)."""
    sizes = [(7, 8), (6, 7), (5, 6)]
    query = torch.ones(2, 4, 7, 8)
    keys = [torch.ones(2, 4, h, w) for h, w in sizes]
    values = [torch.ones(2, 3, h, w) for h, w in sizes]
    options = dict(patch_size=3, softmax_scale=10.0, hard=True)
    ref = faithful_attention(query, keys, values, **options)
    out = fast_attention(query, keys, values, native=native, **options)
    tied = sum((h - 2) * (w - 2) for h, w in sizes)
    assert torch.equal(out, ref)
    assert out[:, :, 3, 4].eq(9 * tied / 4).all()


def test_native_and_eager_paths_agree():
    if native_library() is None:
        pytest.skip("no C compiler: the native kernels cannot be built")
    query, keys, values = random_inputs(2, 8, 4, 10, 9, 5, seed=5)
    options = dict(patch_size=3, softmax_scale=10.0, hard=False, block_elements=3000)
    out_n, grads_n = run(fast_attention, query, keys, values, native=True, **options)
    out_e, grads_e = run(fast_attention, query, keys, values, native=False, **options)
    assert rel(out_n, out_e) <= 1e-6
    assert max(rel(a, b) for a, b in zip(grads_n, grads_e, strict=True)) <= 1e-5


def test_module_fast_equals_faithful_including_parameter_gradients():
    torch.manual_seed(0)
    fast = PyramidAttention(channels=8, reduction=2, levels=5, impl="fast")
    faithful = PyramidAttention(channels=8, reduction=2, levels=5, impl="faithful")
    faithful.load_state_dict(fast.state_dict())
    x = torch.randn(2, 8, 11, 10)
    outs = []
    for module in (fast, faithful):
        module.zero_grad()
        xi = x.clone().requires_grad_()
        out = module(xi)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        outs.append((out, xi.grad, [p.grad for p in module.parameters()]))
    (out_f, gx_f, gp_f), (out_r, gx_r, gp_r) = outs
    assert rel(out_f, out_r) <= 1e-5
    assert rel(gx_f, gx_r) <= 1e-4
    assert max(rel(a, b) for a, b in zip(gp_f, gp_r, strict=True)) <= 1e-4


def test_bad_inputs_raise_clear_errors():
    query, keys, values = random_inputs(1, 8, 4, 6, 6, 2)
    with pytest.raises(ValueError, match="patch_size"):
        fast_attention(query, keys, values, patch_size=2, softmax_scale=10.0, hard=False)
    with pytest.raises(ValueError, match="values"):
        fast_attention(query, keys, values[:1], patch_size=3, softmax_scale=10.0, hard=False)
    with pytest.raises(ValueError, match="block_elements"):
        fast_attention(
            query, keys, values, patch_size=3, softmax_scale=10.0, hard=False, block_elements=0
        )
    with pytest.raises(ValueError, match="native"):
        fast_attention(
            query.half(),
            [k.half() for k in keys],
            [v.half() for v in values],
            patch_size=3,
            softmax_scale=10.0,
            hard=False,
            native=True,
        )


@pytest.mark.parametrize("native", PATHS)
@pytest.mark.parametrize(("gain", "k"), [(40.0, 3), (1.0, 5)], ids=["peaked-k3", "k5"])
def test_peaked_softmax_and_larger_patches(native, gain, k):
    """Scores spanning hundreds (most weights underflow to zero, exercising the kernels' own
    exp and the saved log-sum-exp) and a 5 x 5 patch (25 taps, the clipped box-sum path)."""
    query, keys, values = random_inputs(2, 8, 4, 9, 10, 3, seed=7)
    with torch.no_grad():
        query.mul_(gain)
    options = dict(patch_size=k, softmax_scale=10.0, hard=False)
    ref_out, ref_grads = run(faithful_attention, query, keys, values, **options)
    out, grads = run(
        fast_attention, query, keys, values, native=native, block_elements=3000, **options
    )
    assert torch.isfinite(out).all()
    assert rel(out, ref_out) <= 1e-5
    for got, want in zip(grads, ref_grads, strict=True):
        assert rel(got, want) <= 1e-4


@needs_native
def test_streamed_pass_is_bitwise_deterministic_whatever_thread_takes_a_piece(monkeypatch):
    """Pieces go to whichever thread is free, so runs differ in who computes what; each
    piece's share of the scale gradient is summed in piece order, so results are identical."""
    monkeypatch.setattr(native_module, "PIECES_PER_THREAD", 3)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        runs = []
        for _ in range(3):
            query, keys, values = random_inputs(2, 8, 4, 12, 11, 5, seed=8)
            runs.append(run(fast_attention, query, keys, values, patch_size=3,
                            softmax_scale=10.0, hard=False, native=True))  # fmt: skip
    finally:
        torch.set_num_threads(before)
    (out, grads), *others = runs
    for other_out, other_grads in others:
        assert torch.equal(out, other_out)
        assert all(torch.equal(a, b) for a, b in zip(grads, other_grads, strict=True))


@pytest.mark.parametrize("native", PATHS)
@pytest.mark.parametrize("backward", [False, True])
def test_a_stop_request_ends_a_call_between_blocks(native, backward, monkeypatch):
    """A signal (``panet.stop``) raises at the next block, forward or backward: a whole image
    cut into many blocks stops within one block's time, not at the end of the call."""
    from panet import stop

    query, keys, values = random_inputs(1, 8, 4, 12, 10, 3)
    options = dict(patch_size=3, softmax_scale=10.0, hard=False, native=native, key_tile=60)
    blocks = []
    real = fast._blocks

    def counted(geo, batch):
        for block in real(geo, batch):
            blocks.append(block)
            if len(blocks) == (5 if backward else 2):
                stop.request_stop()
            yield block

    monkeypatch.setattr(fast, "_blocks", counted)
    try:
        with pytest.raises(stop.StopRequested):
            out = fast_attention(query, keys, values, block_elements=800, **options)
            out.sum().backward()
    finally:
        stop.clear_stop()
    assert len(blocks) == (5 if backward else 2)  # stopped right after the request (3 forward)


def test_scratch_buffers_are_kept_between_calls_and_released_on_request():
    """The block buffers are reused by the next call (no page faults again) and stay within
    what the largest plan used; ``release_workspace`` frees them."""
    from panet.attention import workspace

    workspace.release_workspace()
    query, keys, values = random_inputs(1, 8, 4, 12, 10, 3)
    options = dict(patch_size=3, softmax_scale=10.0, hard=False)
    with torch.no_grad():
        fast_attention(query, keys, values, **options)
        kept = workspace.kept_bytes()
        first = {key: t.data_ptr() for key, t in workspace._kept().items()}
        fast_attention(query, keys, values, **options)
    assert kept > 0 and workspace.kept_bytes() == kept
    assert {key: t.data_ptr() for key, t in workspace._kept().items()} == first
    plan = plan_fast(query, keys, values, patch_size=3, hard=False)
    assert kept <= plan.elements * 4 + 4 * 12 * 14 * 512  # the plan, and the GEMM columns
    workspace.release_workspace()
    assert workspace.kept_bytes() == 0
