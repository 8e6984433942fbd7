/* Type-generic body of the fast pyramid attention kernels (panet/attention/native.py).
   Included once per floating-point type by pyramid_attention.c, which defines REAL (the type),
   IREAL (the integer of the same width), EXP_BIAS, MANTISSA_BITS and NAME(x) (the suffixed
   function name). See panet/attention/fast.py for the algorithm these loops implement. */

/* exp(x) as straight-line arithmetic, so that the loops calling it vectorize (libm's exp does
   not without -ffast-math, which would also break the -inf scores of padded keys; floor()
   blocks vectorization too, hence rounding by adding and subtracting 1.5 * 2^mantissa):
   x = n ln2 + r with |r| <= ln2 / 2, exp(r) by its Taylor polynomial (degree 7 for float, 12
   for double: below the type's rounding error), 2^n put into the exponent bits. Returns
   exactly 0 below the smallest normal result (and for -inf); x is at most ~0 here. */
static inline REAL NAME(exp)(REAL x) {
    const int single = sizeof(REAL) == 4;
    const REAL lo = single ? -87.0 : -708.0, hi = single ? 88.0 : 709.0;
    const REAL ln2_hi = single ? 0.693359375 : 6.93147180369123816490e-01;
    const REAL ln2_lo = single ? -2.12194440e-4 : 1.90821492927058770002e-10;
    REAL y = x < lo ? lo : (x > hi ? hi : x);
    const REAL round = single ? 12582912.0 : 6755399441055744.0;
    REAL n = (y * (REAL)1.44269504088896340736 + round) - round;
    REAL r = (y - n * ln2_hi) - n * ln2_lo;
    REAL p = single ? (REAL)(1.0 / 5040) : (REAL)(1.0 / 479001600);
    if (!single) {
        p = p * r + (REAL)(1.0 / 39916800);
        p = p * r + (REAL)(1.0 / 3628800);
        p = p * r + (REAL)(1.0 / 362880);
        p = p * r + (REAL)(1.0 / 40320);
        p = p * r + (REAL)(1.0 / 5040);
    }
    p = p * r + (REAL)(1.0 / 720);
    p = p * r + (REAL)(1.0 / 120);
    p = p * r + (REAL)(1.0 / 24);
    p = p * r + (REAL)(1.0 / 6);
    p = p * r + (REAL)0.5;
    p = p * r + 1;
    p = p * r + 1;
    union { IREAL bits; REAL value; } two_n;
    two_n.bits = ((IREAL)n + EXP_BIAS) << MANTISSA_BITS;
    return x < lo ? 0 : p * two_n.value;
}

/* The k x k diagonal box sum of one chunk [c0, c1) of level j's keys for output row
   (i, q): d[k] = sum_{oy,ox in [-pad,pad]} src[i, q + qoff + oy*wq + ox, k + oy*wk + ox]
   for c0 <= k < c1, with ``level`` = src + ks[j] and source positions outside rows [0, qs)
   or the level's keys [0, kl) counting as zero. ``d`` is indexed like the keys. */
static inline void NAME(box_chunk)(const REAL *level, REAL *d, long i, long q, long qs,
                                   long row, long kl, long wk, long qoff, long wq, long pad,
                                   long c0, long c1) {
    const REAL *tp[MAX_TAPS];
    long lo[MAX_TAPS], hi[MAX_TAPS];
    long nt = 0, mid0 = c0, mid1 = c1;
    for (long oy = -pad; oy <= pad; ++oy) {
        for (long ox = -pad; ox <= pad; ++ox) {
            long r = q + qoff + oy * wq + ox;
            if (r < 0 || r >= qs) continue;
            long sh = oy * wk + ox;
            lo[nt] = c0 + sh < 0 ? -sh : c0;
            hi[nt] = c1 + sh > kl ? kl - sh : c1;
            tp[nt] = level + (i * qs + r) * row + sh;
            if (lo[nt] > mid0) mid0 = lo[nt];
            if (hi[nt] < mid1) mid1 = hi[nt];
            ++nt;
        }
    }
    if (nt == 9 && mid0 < mid1) {
        /* all nine taps in bounds: one fused sum, accumulator in registers */
        const REAL *s0 = tp[0], *s1 = tp[1], *s2 = tp[2], *s3 = tp[3], *s4 = tp[4],
                   *s5 = tp[5], *s6 = tp[6], *s7 = tp[7], *s8 = tp[8];
        #pragma omp simd
        for (long k = mid0; k < mid1; ++k)
            d[k] = ((s0[k] + s1[k]) + (s2[k] + s3[k])) + ((s4[k] + s5[k]) + (s6[k] + s7[k])) +
                   s8[k];
    } else {
        mid0 = mid1 = c0;
    }
    /* the rest, tap by tap with clipping */
    for (long k = c0; k < mid0; ++k) d[k] = 0;
    for (long k = mid1; k < c1; ++k) d[k] = 0;
    for (long u = 0; u < nt; ++u) {
        const REAL *s = tp[u];
        long e0 = lo[u], e1 = hi[u] < mid0 ? hi[u] : mid0;
        #pragma omp simd
        for (long k = e0; k < e1; ++k) d[k] += s[k];
        e0 = lo[u] > mid1 ? lo[u] : mid1;
        e1 = hi[u];
        #pragma omp simd
        for (long k = e0; k < e1; ++k) d[k] += s[k];
    }
}

/* The box sum of every level for output row t = i * qd + q into dst [row] (keys of level j at
   [ks[j], ks[j] + klen[j]), key-grid width wk[j]). */
static inline void NAME(box_row)(const REAL *src, REAL *dst, long t, long qs, long qd,
                                 long row, long nlev, const long *ks, const long *klen,
                                 const long *wk, long qoff, long wq, long pad) {
    long i = t / qd, q = t % qd;
    for (long j = 0; j < nlev; ++j)
        for (long c0 = 0; c0 < klen[j]; c0 += CHUNK) {
            long c1 = c0 + CHUNK < klen[j] ? c0 + CHUNK : klen[j];
            NAME(box_chunk)(src + ks[j], dst + ks[j], i, q, qs, row, klen[j], wk[j],
                            qoff, wq, pad, c0, c1);
        }
}

/* Plain box sum (the paste): out [n, qd, row] from src [n, qs, row]. */
void NAME(diag_box)(const REAL *src, REAL *out, long qs, long qd, long row, long nlev,
                    const long *ks, const long *klen, const long *wk, long qoff, long wq,
                    long pad, long n, int threads) {
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (long t = 0; t < n * qd; ++t)
        NAME(box_row)(src, out + t * row, t, qs, qd, row, nlev, ks, klen, wk, qoff, wq, pad);
}

/* Attention weights of rows [n, qd] from pixel scores src [n, qs, row]: raw = box sum (kept
   when ``raw`` is not NULL), s = raw * scale[i] + bias, and either (normalize) the softmax of
   s over the row, its log-sum-exp stored in lse[t], or exp(s - lse[t]) with lse given.
   Padded query columns (q % wq outside [pad, wq - pad)) get all-zero weights. */
void NAME(weights)(const REAL *src, REAL *raw, REAL *weights, const REAL *scale,
                   const REAL *bias, REAL *lse, int normalize, long qs, long qd, long row,
                   long nlev, const long *ks, const long *klen, const long *wk, long qoff,
                   long wq, long pad, long n, int threads) {
    #pragma omp parallel num_threads(threads)
    {
    REAL *own = raw ? NULL : (REAL *)malloc(sizeof(REAL) * row);
    #pragma omp for schedule(static)
    for (long t = 0; t < n * qd; ++t) {
        long i = t / qd, col = (t % qd) % wq;
        int padded = col < pad || col >= wq - pad;
        REAL *w = weights + t * row;
        if (padded) {
            memset(w, 0, sizeof(REAL) * row);
            if (normalize) lse[t] = 0;
            if (!raw) continue; /* raw must still be finite there: dS = 0 * raw */
        }
        /* the box sum goes to this row of raw, or to a private row that stays in cache */
        REAL *x = raw ? raw + t * row : own;
        NAME(box_row)(src, x, t, qs, qd, row, nlev, ks, klen, wk, qoff, wq, pad);
        if (padded) continue;
        const REAL *sc = scale + i * row;
        if (!normalize) {
            REAL l = lse[t];
            #pragma omp simd
            for (long k = 0; k < row; ++k) w[k] = NAME(exp)(x[k] * sc[k] + bias[k] - l);
            continue;
        }
        REAL m = -INFINITY, sum = 0;
        #pragma omp simd reduction(max:m)
        for (long k = 0; k < row; ++k) {
            w[k] = x[k] * sc[k] + bias[k];
            m = w[k] > m ? w[k] : m;
        }
        #pragma omp simd reduction(+:sum)
        for (long k = 0; k < row; ++k) {
            w[k] = NAME(exp)(w[k] - m);
            sum += w[k];
        }
        REAL inv = 1 / sum;
        #pragma omp simd
        for (long k = 0; k < row; ++k) w[k] *= inv;
        lse[t] = m + log(sum);
    }
    free(own);
    }
}

/* Gradient of the raw scores of rows [n, qd]: dA = box sum of src = dL/d(pasted) [n, qs, row],
   then the softmax backward dS = A * (dA - sum_k A dA), written as out = dS * scale[i] (the
   gradient of the raw scores); part[thread, i, k] += dS * raw (the gradient of the scale). */
void NAME(weights_grad)(const REAL *src, const REAL *a, const REAL *raw, const REAL *scale,
                        REAL *out, REAL *part, long qs, long qd, long row, long nlev,
                        const long *ks, const long *klen, const long *wk, long qoff, long wq,
                        long pad, long n, int threads) {
    #pragma omp parallel num_threads(threads)
    {
    REAL *mine = part + (long)omp_get_thread_num() * n * row;
    #pragma omp for schedule(static)
    for (long t = 0; t < n * qd; ++t) {
        long i = t / qd;
        REAL *d = out + t * row, *pr = mine + i * row;
        const REAL *ar = a + t * row, *rr = raw + t * row, *sc = scale + i * row;
        NAME(box_row)(src, d, t, qs, qd, row, nlev, ks, klen, wk, qoff, wq, pad);
        REAL dot = 0;
        #pragma omp simd reduction(+:dot)
        for (long k = 0; k < row; ++k) dot += ar[k] * d[k];
        #pragma omp simd
        for (long k = 0; k < row; ++k) {
            REAL ds = ar[k] * (d[k] - dot);
            pr[k] += ds * rr[k];
            d[k] = ds * sc[k];
        }
    }
    }
}

/* Backward of rows [n, qd] in one pass, recomputing the scores instead of storing them:
   raw = box sum of the pixel scores p [n, qs, row] (a private row), A = exp(raw * scale[i] +
   bias - lse[t]) (written to ``a``, needed by the paste), dA = box sum of dp = dL/d(pasted)
   [n, qs, row], dS = A * (dA - sum_k A dA); out = dS * scale[i] (the gradient of the raw
   scores) and part[thread, i, k] += dS * raw (the gradient of the scale). Padded query
   columns get all-zero A and out. Fuses the recompute of ``weights`` with ``weights_grad``,
   so neither raw nor A is read back from memory. */
void NAME(scores_grad)(const REAL *p, const REAL *dp, const REAL *scale, const REAL *bias,
                       const REAL *lse, REAL *a, REAL *out, REAL *part, long qs, long qd,
                       long row, long nlev, const long *ks, const long *klen, const long *wk,
                       long qoff, long wq, long pad, long n, int threads) {
    #pragma omp parallel num_threads(threads)
    {
    REAL *x = (REAL *)malloc(sizeof(REAL) * row);
    REAL *mine = part + (long)omp_get_thread_num() * n * row;
    #pragma omp for schedule(static)
    for (long t = 0; t < n * qd; ++t) {
        long i = t / qd, col = (t % qd) % wq;
        REAL *w = a + t * row, *d = out + t * row, *pr = mine + i * row;
        if (col < pad || col >= wq - pad) {
            memset(w, 0, sizeof(REAL) * row);
            memset(d, 0, sizeof(REAL) * row);
            continue;
        }
        const REAL *sc = scale + i * row;
        REAL l = lse[t];
        NAME(box_row)(p, x, t, qs, qd, row, nlev, ks, klen, wk, qoff, wq, pad);
        #pragma omp simd
        for (long k = 0; k < row; ++k) w[k] = NAME(exp)(x[k] * sc[k] + bias[k] - l);
        NAME(box_row)(dp, d, t, qs, qd, row, nlev, ks, klen, wk, qoff, wq, pad);
        REAL dot = 0;
        #pragma omp simd reduction(+:dot)
        for (long k = 0; k < row; ++k) dot += w[k] * d[k];
        #pragma omp simd
        for (long k = 0; k < row; ++k) {
            REAL ds = w[k] * (d[k] - dot);
            pr[k] += ds * x[k];
            d[k] = ds * sc[k];
        }
    }
    free(x);
    }
}
