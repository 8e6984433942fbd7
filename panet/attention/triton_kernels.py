"""Triton kernels of the pyramid attention (forward, and the two backward passes).

A k x k patch score is a dot product of unfolded patches: ``raw[i, j] = sum_o <q[i + o],
k[j + o]>`` over the k² taps ``o`` (zero outside each grid), and pasting the weighted value
patches gives every query ``U[i, o] = sum_j A[i, j] v[j + o]`` per tap, folded onto the output
as ``out[i + o] += U[i, o]`` (``torch.nn.functional.fold``, outside the kernels). So each kernel
is a flash-attention loop over key tiles whose operands are gathered tap by tap through
neighbour tables (``nbr[x, o]``: the flat index of position ``x + o`` on its grid, or -1), with
an online softmax in forward and the saved log-sum-exp in backward:

* ``forward``: per query tile and value-channel chunk, the scores (one ``c``-deep product per
  tap), the online softmax, and ``U`` for every tap of the chunk; writes ``U`` and each
  query's log-sum-exp.
* ``grad_query``: per query tile, ``dA[i, j] = sum_o <dU[i, o], v[j + o]>`` with
  ``dU[i, o] = dL/d out[i + o]``, ``dS = A (dA - D)`` with ``D[i] = sum_o <dU[i, o], U[i, o]>``,
  and ``dQ[i, o] = sum_j dS[i, j] t_j k[j + o]`` (folded like ``U``).
* ``grad_keys``: per key tile and value-channel chunk, ``dV[j, o] = sum_i A[i, j] dU[i, o]``,
  ``dK[j, o] = sum_i dS[i, j] t_j q[i + o]`` and ``dt[j] = sum_i dS[i, j] raw[i, j]``.

The taps' accumulators live side by side in one tensor per power-of-two group of taps (k = 3:
a group of 8 and a group of 1; ``HAS2`` is False when one group holds every tap, as for k = 1),
so no product is padded beyond the 9 real taps. Products run in
IEEE float32 (``PRECISION = "ieee"``) unless TF32 is asked for (opt-in).
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _gather(
    base,
    stride_channel,
    nbr,
    rows,
    rows_ok,
    T: tl.constexpr,
    TAP0: tl.constexpr,
    TAPS: tl.constexpr,
    KK: tl.constexpr,
    ch0,
    CH: tl.constexpr,
    CHP: tl.constexpr,
    R: tl.constexpr,
):
    """[R, TAPS * CHP]: channels ch0 .. ch0 + CHP of the neighbours TAP0 .. TAP0 + TAPS of
    ``rows`` (zero outside the grid, past ``CH`` channels and at taps >= KK)."""
    taps = TAP0 + tl.arange(0, TAPS)
    where = tl.load(
        nbr + rows[:, None] * T + taps[None, :],
        mask=rows_ok[:, None] & (taps[None, :] < KK),
        other=-1,
    )
    chans = ch0 + tl.arange(0, CHP)
    ok = (where[:, :, None] >= 0) & (chans[None, None, :] < CH)
    x = tl.load(
        base + chans[None, None, :] * stride_channel + where[:, :, None], mask=ok, other=0.0
    )
    return tl.reshape(x, (R, TAPS * CHP))


@triton.jit
def _raw_scores(
    Q,
    K,
    QNBR,
    KNBR,
    N,
    M,
    offs_m,
    m_ok,
    offs_n,
    n_ok,
    T: tl.constexpr,
    KK: tl.constexpr,
    C_Q: tl.constexpr,
    CP: tl.constexpr,
    BM: tl.constexpr,
    BN: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """[BM, BN]: sum over the taps of <q[i + o], k[j + o]>."""
    raw = tl.zeros((BM, BN), dtype=tl.float32)
    for o in tl.static_range(KK):
        q = _gather(Q, N, QNBR, offs_m, m_ok, T, o, 1, KK, 0, C_Q, CP, BM)
        k = _gather(K, M, KNBR, offs_n, n_ok, T, o, 1, KK, 0, C_Q, CP, BN)
        raw += tl.dot(q, tl.trans(k), input_precision=PRECISION)
    return raw


@triton.jit
def _store_taps(
    OUT,
    stride_row,
    rows,
    rows_ok,
    x,
    TAP0: tl.constexpr,
    TAPS: tl.constexpr,
    KK: tl.constexpr,
    ch0,
    CH: tl.constexpr,
    CHP: tl.constexpr,
    R: tl.constexpr,
):
    """Store ``x`` [R, TAPS * CHP] to OUT[row, tap, channel] (taps < KK, channels < CH)."""
    x = tl.reshape(x, (R, TAPS, CHP))
    taps = TAP0 + tl.arange(0, TAPS)
    chans = ch0 + tl.arange(0, CHP)
    where = rows[:, None, None] * stride_row + taps[None, :, None] * CH + chans[None, None, :]
    ok = rows_ok[:, None, None] & (taps[None, :, None] < KK) & (chans[None, None, :] < CH)
    tl.store(OUT + where, x, mask=ok)


@triton.jit
def forward(
    Q,
    K,
    V,
    SCALE,
    QNBR,
    KNBR,
    U,
    LSE,
    N,
    M,
    q_start,
    q_count,
    T: tl.constexpr,
    KK: tl.constexpr,
    G1: tl.constexpr,
    G2: tl.constexpr,
    HAS2: tl.constexpr,
    C_Q: tl.constexpr,
    CP: tl.constexpr,
    C_V: tl.constexpr,
    CVB: tl.constexpr,
    BM: tl.constexpr,
    BN: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """Grid (query tiles of the chunk, batch, value-channel chunks). Q [B, c, N], K [B, c, M],
    V [B, C, M], SCALE [B, M] contiguous; U [B, q_count, KK, C] (the chunk's queries
    q_start ..), LSE [B, N]."""
    b = tl.program_id(1)
    cv0 = tl.program_id(2) * CVB
    Q += b * C_Q * N
    K += b * C_Q * M
    V += b * C_V * M
    offs_m = q_start + tl.program_id(0) * BM + tl.arange(0, BM)
    m_ok = offs_m < q_start + q_count
    best = tl.full((BM,), float("-inf"), dtype=tl.float32)
    total = tl.zeros((BM,), dtype=tl.float32)
    acc1 = tl.zeros((BM, G1 * CVB), dtype=tl.float32)
    acc2 = tl.zeros((BM, G2 * CVB), dtype=tl.float32)
    for n0 in range(0, M, BN):
        offs_n = n0 + tl.arange(0, BN)
        n_ok = offs_n < M
        raw = _raw_scores(
            Q, K, QNBR, KNBR, N, M, offs_m, m_ok, offs_n, n_ok, T, KK, C_Q, CP, BM, BN, PRECISION
        )
        scale = tl.load(SCALE + b * M + offs_n, mask=n_ok, other=0.0)
        s = tl.where(n_ok[None, :], raw * scale[None, :], float("-inf"))
        new_best = tl.maximum(best, tl.max(s, 1))
        alpha = tl.exp(best - new_best)
        p = tl.exp(s - new_best[:, None])
        total = total * alpha + tl.sum(p, 1)
        v1 = _gather(V, M, KNBR, offs_n, n_ok, T, 0, G1, KK, cv0, C_V, CVB, BN)
        acc1 = acc1 * alpha[:, None] + tl.dot(p, v1, input_precision=PRECISION)
        if HAS2:
            v2 = _gather(V, M, KNBR, offs_n, n_ok, T, G1, G2, KK, cv0, C_V, CVB, BN)
            acc2 = acc2 * alpha[:, None] + tl.dot(p, v2, input_precision=PRECISION)
        best = new_best
    rows = offs_m - q_start
    stride_row = KK * C_V
    U += b * q_count * stride_row
    _store_taps(U, stride_row, rows, m_ok, acc1 / total[:, None], 0, G1, KK, cv0, C_V, CVB, BM)
    if HAS2:
        _store_taps(U, stride_row, rows, m_ok, acc2 / total[:, None], G1, G2, KK, cv0, C_V, CVB, BM)
    tl.store(LSE + b * N + offs_m, best + tl.log(total), mask=m_ok)


@triton.jit
def _weights_and_grads(
    Q,
    K,
    V,
    DOUT,
    SCALE,
    LSE,
    DSUM,
    QNBR,
    KNBR,
    N,
    M,
    b,
    offs_m,
    m_ok,
    offs_n,
    n_ok,
    T: tl.constexpr,
    KK: tl.constexpr,
    G1: tl.constexpr,
    G2: tl.constexpr,
    HAS2: tl.constexpr,
    C_Q: tl.constexpr,
    CP: tl.constexpr,
    C_V: tl.constexpr,
    CVB: tl.constexpr,
    BM: tl.constexpr,
    BN: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """Raw scores, weights A = exp(s - lse), dS = A (dA - D) and the key scales of a tile
    pair (all [BM, BN] but the scales [BN]); masked rows and columns are zero."""
    raw = _raw_scores(
        Q, K, QNBR, KNBR, N, M, offs_m, m_ok, offs_n, n_ok, T, KK, C_Q, CP, BM, BN, PRECISION
    )
    scale = tl.load(SCALE + b * M + offs_n, mask=n_ok, other=0.0)
    lse = tl.load(LSE + b * N + offs_m, mask=m_ok, other=0.0)
    ok = m_ok[:, None] & n_ok[None, :]
    a = tl.where(ok, tl.exp(raw * scale[None, :] - lse[:, None]), 0.0)
    d_a = tl.zeros((BM, BN), dtype=tl.float32)
    for cv0 in tl.static_range(0, C_V, CVB):
        g1 = _gather(DOUT, N, QNBR, offs_m, m_ok, T, 0, G1, KK, cv0, C_V, CVB, BM)
        v1 = _gather(V, M, KNBR, offs_n, n_ok, T, 0, G1, KK, cv0, C_V, CVB, BN)
        d_a += tl.dot(g1, tl.trans(v1), input_precision=PRECISION)
        if HAS2:
            g2 = _gather(DOUT, N, QNBR, offs_m, m_ok, T, G1, G2, KK, cv0, C_V, CVB, BM)
            v2 = _gather(V, M, KNBR, offs_n, n_ok, T, G1, G2, KK, cv0, C_V, CVB, BN)
            d_a += tl.dot(g2, tl.trans(v2), input_precision=PRECISION)
    d_sum = tl.load(DSUM + b * N + offs_m, mask=m_ok, other=0.0)
    d_s = a * (d_a - d_sum[:, None])
    return raw, a, d_s, scale


@triton.jit
def grad_query(
    Q,
    K,
    V,
    DOUT,
    SCALE,
    LSE,
    DSUM,
    QNBR,
    KNBR,
    DQU,
    N,
    M,
    q_start,
    q_count,
    T: tl.constexpr,
    KK: tl.constexpr,
    G1: tl.constexpr,
    G2: tl.constexpr,
    HAS2: tl.constexpr,
    C_Q: tl.constexpr,
    CP: tl.constexpr,
    C_V: tl.constexpr,
    CVB: tl.constexpr,
    BM: tl.constexpr,
    BN: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """Grid (query tiles of the chunk, batch). DOUT [B, C, N] (dL/d pasted output), DSUM
    [B, N] (D); DQU [B, q_count, KK, c]: the query taps' gradients, to be folded."""
    b = tl.program_id(1)
    Q += b * C_Q * N
    K += b * C_Q * M
    V += b * C_V * M
    DOUT += b * C_V * N
    offs_m = q_start + tl.program_id(0) * BM + tl.arange(0, BM)
    m_ok = offs_m < q_start + q_count
    dq1 = tl.zeros((BM, G1 * CP), dtype=tl.float32)
    dq2 = tl.zeros((BM, G2 * CP), dtype=tl.float32)
    for n0 in range(0, M, BN):
        offs_n = n0 + tl.arange(0, BN)
        n_ok = offs_n < M
        _, _, d_s, scale = _weights_and_grads(
            Q, K, V, DOUT, SCALE, LSE, DSUM, QNBR, KNBR, N, M, b, offs_m, m_ok, offs_n, n_ok,
            T, KK, G1, G2, HAS2, C_Q, CP, C_V, CVB, BM, BN, PRECISION,
        )  # fmt: skip
        d_scaled = d_s * scale[None, :]
        k1 = _gather(K, M, KNBR, offs_n, n_ok, T, 0, G1, KK, 0, C_Q, CP, BN)
        dq1 += tl.dot(d_scaled, k1, input_precision=PRECISION)
        if HAS2:
            k2 = _gather(K, M, KNBR, offs_n, n_ok, T, G1, G2, KK, 0, C_Q, CP, BN)
            dq2 += tl.dot(d_scaled, k2, input_precision=PRECISION)
    rows = offs_m - q_start
    stride_row = KK * C_Q
    DQU += b * q_count * stride_row
    _store_taps(DQU, stride_row, rows, m_ok, dq1, 0, G1, KK, 0, C_Q, CP, BM)
    if HAS2:
        _store_taps(DQU, stride_row, rows, m_ok, dq2, G1, G2, KK, 0, C_Q, CP, BM)


@triton.jit
def grad_keys(
    Q,
    K,
    V,
    DOUT,
    SCALE,
    LSE,
    DSUM,
    QNBR,
    KNBR,
    DKU,
    DVU,
    DSCALE,
    N,
    M,
    k_start,
    k_count,
    T: tl.constexpr,
    KK: tl.constexpr,
    G1: tl.constexpr,
    G2: tl.constexpr,
    HAS2: tl.constexpr,
    C_Q: tl.constexpr,
    CP: tl.constexpr,
    C_V: tl.constexpr,
    CVB: tl.constexpr,
    BM: tl.constexpr,
    BN: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """Grid (key tiles of the chunk, batch, value-channel chunks). DKU [B, k_count, KK, c],
    DVU [B, k_count, KK, C]: the key and value taps' gradients, to be folded; DSCALE [B, M]
    (written by the first channel chunk)."""
    b = tl.program_id(1)
    cv0 = tl.program_id(2) * CVB
    Q += b * C_Q * N
    K += b * C_Q * M
    V += b * C_V * M
    DOUT += b * C_V * N
    offs_n = k_start + tl.program_id(0) * BN + tl.arange(0, BN)
    n_ok = offs_n < k_start + k_count
    dk1 = tl.zeros((BN, G1 * CP), dtype=tl.float32)
    dk2 = tl.zeros((BN, G2 * CP), dtype=tl.float32)
    dv1 = tl.zeros((BN, G1 * CVB), dtype=tl.float32)
    dv2 = tl.zeros((BN, G2 * CVB), dtype=tl.float32)
    d_scale = tl.zeros((BN,), dtype=tl.float32)
    for m0 in range(0, N, BM):
        offs_m = m0 + tl.arange(0, BM)
        m_ok = offs_m < N
        raw, a, d_s, scale = _weights_and_grads(
            Q, K, V, DOUT, SCALE, LSE, DSUM, QNBR, KNBR, N, M, b, offs_m, m_ok, offs_n, n_ok,
            T, KK, G1, G2, HAS2, C_Q, CP, C_V, CVB, BM, BN, PRECISION,
        )  # fmt: skip
        d_scale += tl.sum(d_s * raw, 0)
        d_scaled_t = tl.trans(d_s * scale[None, :])
        a_t = tl.trans(a)
        q1 = _gather(Q, N, QNBR, offs_m, m_ok, T, 0, G1, KK, 0, C_Q, CP, BM)
        dk1 += tl.dot(d_scaled_t, q1, input_precision=PRECISION)
        g1 = _gather(DOUT, N, QNBR, offs_m, m_ok, T, 0, G1, KK, cv0, C_V, CVB, BM)
        dv1 += tl.dot(a_t, g1, input_precision=PRECISION)
        if HAS2:
            q2 = _gather(Q, N, QNBR, offs_m, m_ok, T, G1, G2, KK, 0, C_Q, CP, BM)
            dk2 += tl.dot(d_scaled_t, q2, input_precision=PRECISION)
            g2 = _gather(DOUT, N, QNBR, offs_m, m_ok, T, G1, G2, KK, cv0, C_V, CVB, BM)
            dv2 += tl.dot(a_t, g2, input_precision=PRECISION)
    rows = offs_n - k_start
    stride_k = KK * C_Q
    stride_v = KK * C_V
    DKU += b * k_count * stride_k
    DVU += b * k_count * stride_v
    keys_ok = n_ok & ((offs_n * 0 + cv0) == 0)  # the keys' gradients: first chunk only
    _store_taps(DKU, stride_k, rows, keys_ok, dk1, 0, G1, KK, 0, C_Q, CP, BN)
    _store_taps(DVU, stride_v, rows, n_ok, dv1, 0, G1, KK, cv0, C_V, CVB, BN)
    if HAS2:
        _store_taps(DKU, stride_k, rows, keys_ok, dk2, G1, G2, KK, 0, C_Q, CP, BN)
        _store_taps(DVU, stride_v, rows, n_ok, dv2, G1, G2, KK, cv0, C_V, CVB, BN)
    tl.store(DSCALE + b * M + offs_n, d_scale, mask=keys_ok)


__all__ = ["forward", "grad_keys", "grad_query", "triton"]
