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

/* w = softmax(x * sc + bias) over one row; returns its log-sum-exp. */
static inline REAL NAME(softmax_row)(const REAL *x, const REAL *sc, const REAL *bias, REAL *w,
                                     long row) {
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
    return m + log(sum);
}

/* log-sum-exp of x * sc + bias over one row, nothing stored: the first pass over the key tiles
   of a block when one row of all keys does not fit the memory budget. */
static inline REAL NAME(lse_row)(const REAL *x, const REAL *sc, const REAL *bias, long row) {
    REAL m = -INFINITY, sum = 0;
    #pragma omp simd reduction(max:m)
    for (long k = 0; k < row; ++k) {
        REAL s = x[k] * sc[k] + bias[k];
        m = s > m ? s : m;
    }
    #pragma omp simd reduction(+:sum)
    for (long k = 0; k < row; ++k) sum += NAME(exp)(x[k] * sc[k] + bias[k] - m);
    return m + log(sum);
}

/* w = exp(x * sc + bias - lse) over one row: the softmax with its log-sum-exp known. */
static inline void NAME(exp_row)(const REAL *x, const REAL *sc, const REAL *bias, REAL lse,
                                 REAL *w, long row) {
    #pragma omp simd
    for (long k = 0; k < row; ++k) w[k] = NAME(exp)(x[k] * sc[k] + bias[k] - lse);
}

/* Source rows of the k² taps of output row q: rp[u] for tap u = (oy + pad) * (2 pad + 1) +
   (ox + pad) is source row r = q + qoff + oy * wq + ox, or NULL where r is outside [0, qs).
   Row r lies at base + r * row, or, in a ring of ``ring`` rows (ring > 0), at
   base + (r % ring) * row. */
static inline void NAME(tap_rows)(const REAL **rp, const REAL *base, long ring, long qs,
                                  long row, long q, long qoff, long wq, long pad) {
    long u = 0;
    for (long oy = -pad; oy <= pad; ++oy)
        for (long ox = -pad; ox <= pad; ++ox, ++u) {
            long r = q + qoff + oy * wq + ox;
            rp[u] = r < 0 || r >= qs ? NULL : base + (ring ? r % ring : r) * row;
        }
}

/* The k x k diagonal box sum of one chunk [c0, c1) of one level's keys (at offset ``ks`` in
   every row, ``kl`` keys, key-grid width ``wk``): d[k] = sum_taps rp[u][ks + k + oy*wk + ox]
   for c0 <= k < c1, with missing rows (NULL) and keys outside [0, kl) counting as zero.
   ``d`` points at the level's first key. */
static inline void NAME(box_chunk)(const REAL *const *rp, REAL *d, long ks, long kl, long wk,
                                   long pad, long c0, long c1) {
    const REAL *tp[MAX_TAPS];
    long lo[MAX_TAPS], hi[MAX_TAPS];
    long nt = 0, mid0 = c0, mid1 = c1, u = 0;
    for (long oy = -pad; oy <= pad; ++oy) {
        for (long ox = -pad; ox <= pad; ++ox, ++u) {
            if (!rp[u]) continue;
            long sh = oy * wk + ox;
            lo[nt] = c0 + sh < 0 ? -sh : c0;
            hi[nt] = c1 + sh > kl ? kl - sh : c1;
            tp[nt] = rp[u] + ks + sh;
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
    for (long v = 0; v < nt; ++v) {
        const REAL *s = tp[v];
        long e0 = lo[v], e1 = hi[v] < mid0 ? hi[v] : mid0;
        #pragma omp simd
        for (long k = e0; k < e1; ++k) d[k] += s[k];
        e0 = lo[v] > mid1 ? lo[v] : mid1;
        e1 = hi[v];
        #pragma omp simd
        for (long k = e0; k < e1; ++k) d[k] += s[k];
    }
}

/* The box sum of every level (keys of level j at [ks[j], ks[j] + klen[j]), key-grid width
   wk[j]) from the tap rows ``rp`` into dst [row]. */
static inline void NAME(box_taps)(const REAL *const *rp, REAL *dst, long nlev, const long *ks,
                                  const long *klen, const long *wk, long pad) {
    for (long j = 0; j < nlev; ++j)
        for (long c0 = 0; c0 < klen[j]; c0 += CHUNK) {
            long c1 = c0 + CHUNK < klen[j] ? c0 + CHUNK : klen[j];
            NAME(box_chunk)(rp, dst + ks[j], ks[j], klen[j], wk[j], pad, c0, c1);
        }
}

/* The box sum for output row q of image i of src [n, qs, row] into dst [row]. */
static inline void NAME(box_row)(const REAL *src, REAL *dst, long i, long q, long qs, long row,
                                 long nlev, const long *ks, const long *klen, const long *wk,
                                 long qoff, long wq, long pad) {
    const REAL *rp[MAX_TAPS];
    NAME(tap_rows)(rp, src + i * qs * row, 0, qs, row, q, qoff, wq, pad);
    NAME(box_taps)(rp, dst, nlev, ks, klen, wk, pad);
}

/* Plain box sum (the paste): out [n, qd, row] from src [n, qs, row]. */
void NAME(diag_box)(const REAL *src, REAL *out, long qs, long qd, long row, long nlev,
                    const long *ks, const long *klen, const long *wk, long qoff, long wq,
                    long pad, long n, int threads) {
    #pragma omp parallel for schedule(dynamic, 16) num_threads(threads)
    for (long t = 0; t < n * qd; ++t)
        NAME(box_row)(src, out + t * row, t / qd, t % qd, qs, row, nlev, ks, klen, wk, qoff,
                       wq, pad);
}

/* Attention weights of rows [n, qd] from pixel scores src [n, qs, row] (the stepwise path of
   hard attention): the softmax of s = box sum * scale[i] + bias over the row, its
   log-sum-exp stored in lse[t]. Padded query columns (q % wq outside [pad, wq - pad)) get
   all-zero weights. */
void NAME(weights)(const REAL *src, REAL *weights, const REAL *scale, const REAL *bias,
                   REAL *lse, long qs, long qd, long row, long nlev, const long *ks,
                   const long *klen, const long *wk, long qoff, long wq, long pad, long n,
                   int threads) {
    #pragma omp parallel num_threads(threads)
    {
    REAL *x = (REAL *)malloc(sizeof(REAL) * row); /* a private row that stays in cache */
    #pragma omp for schedule(dynamic, 16)
    for (long t = 0; t < n * qd; ++t) {
        long i = t / qd, col = (t % qd) % wq;
        REAL *w = weights + t * row;
        if (col < pad || col >= wq - pad) {
            memset(w, 0, sizeof(REAL) * row);
            lse[t] = 0;
            continue;
        }
        NAME(box_row)(src, x, i, t % qd, qs, row, nlev, ks, klen, wk, qoff, wq, pad);
        lse[t] = NAME(softmax_row)(x, scale + i * row, bias, w, row);
    }
    free(x);
    }
}

/* SIMD vectors of the build target (GCC / Clang vector extensions: AVX2 here, NEON or SSE
   elsewhere), unaligned loads and stores; a key panel is PW = two vectors wide. */
typedef REAL NAME(vec) __attribute__((vector_size(VBYTES), aligned(sizeof(REAL))));

/* Pixel-score rows r0 .. r0 + MR - 1 of one image: out[m][k] = sum_j a[m * c + j] *
   keys[j][k] for all ``row`` keys, from the keys packed in panels [ceil(row / PW)][c][PW]
   (``panels``). A 6 x 16 register tile over the c-long inner product (c = 32 or 64 here):
   BLAS runs these thin products at about half its speed and writes the whole [Q, L] map,
   which the caller keeps in a ring of rows instead. */
static void NAME(pixel_rows)(const REAL *a, long c, const REAL *panels, REAL *const *out,
                             long row) {
    const long vl = VL, pw = PW;
    for (long k0 = 0; k0 < row; k0 += pw) {
        const REAL *panel = panels + (k0 / pw) * c * pw;
        NAME(vec) acc[MR][2];
        for (int m = 0; m < MR; ++m) acc[m][0] = acc[m][1] = (NAME(vec)){0};
        for (long j = 0; j < c; ++j) {
            NAME(vec) b0 = *(const NAME(vec) *)(panel + j * pw);
            NAME(vec) b1 = *(const NAME(vec) *)(panel + j * pw + vl);
            for (int m = 0; m < MR; ++m) {
                REAL x = a[m * c + j];
                acc[m][0] += x * b0;
                acc[m][1] += x * b1;
            }
        }
        if (k0 + pw <= row) {
            for (int m = 0; m < MR; ++m) {
                *(NAME(vec) *)(out[m] + k0) = acc[m][0];
                *(NAME(vec) *)(out[m] + k0 + vl) = acc[m][1];
            }
        } else {
            REAL tile[PW];
            for (int m = 0; m < MR; ++m) {
                *(NAME(vec) *)tile = acc[m][0];
                *(NAME(vec) *)(tile + vl) = acc[m][1];
                for (long k = k0; k < row; ++k) out[m][k] = tile[k - k0];
            }
        }
    }
}

/* Pixel-score rows [first, first + MR) ∩ [0, qs) of image rows ``a`` [qs, c] into their
   slots of a ring of ``ring`` rows; rows past qs go to the scratch row ``spare`` (their
   inputs to ``tail``, MR x c scratch). */
static void NAME(pixel_group)(const REAL *a, long c, const REAL *panels, REAL *ring_rows,
                              long ring, long first, long qs, long row, REAL *spare,
                              REAL *tail) {
    REAL *out[MR];
    const REAL *rows = a + first * c;
    for (int m = 0; m < MR; ++m)
        out[m] = first + m < qs ? ring_rows + ((first + m) % ring) * row : spare;
    if (first + MR > qs) { /* zero-filled copy of the last rows: no read past the input */
        memset(tail, 0, sizeof(REAL) * MR * c);
        memcpy(tail, rows, sizeof(REAL) * (qs - first) * c);
        rows = tail;
    }
    NAME(pixel_rows)(rows, c, panels, out, row);
}

/* Elements of scratch one thread of paste_stream needs (its rings, rows and tiles). */
long NAME(paste_stream_scratch)(long row, long wq, long pad, long c, long cv, int backward) {
    const long ring = 2 * (pad * wq + pad) + 1, ring_p = ring + MR;
    return row * (2 + (backward ? 2 : 1) * (ring + ring_p)) + MR * (c > cv ? c : cv);
}

/* The softmax (or its backward) streamed straight into its paste, so that neither the pixel
   scores nor the weights nor their gradients ever go to memory. Output rows [n, qs] (the
   block's rows plus halo) are split into ``pieces`` runs of consecutive rows, taken by the
   threads as they free up; each piece computes, in order, the pixel-score rows (from the query rows qt [n, qs, c] and the key panels kp) into a ring,
   the weight rows [n, qa] (qa = qs - 2 pad wq) that its output rows need into a second ring
   of 2 (pad wq + pad) + 1 rows, and pastes each output row from that ring as soon as its last
   weight row is there. Rows on either side of a piece are computed by both neighbours; the
   log-sum-exp and the scale gradient (part[piece, i, k]) come only from the rows a piece owns
   (output row = weight row + pad wq).

   Forward (gt NULL): A = softmax(raw * scale[i] + bias) with raw = box sum of the pixel
   scores, its log-sum-exp stored in lse (normalize), or A = exp(s - lse) with lse given;
   pasted = adjoint box sum of A. Backward (gt = dL/d output rows [n, qs, cv], vp the value
   panels): also dA = box sum of gt . values, dS = A * (dA - sum_k A dA), part[piece, i, k]
   += dS * raw, and d_pixel = adjoint box sum of dS * scale[i] (the gradient of the pixel
   scores). Padded query columns have zero weights.

   Key tiles (the row is one tile of the keys; the softmax runs over all tiles): with pasted
   NULL, forward stores each owned row's log-sum-exp over this tile (normalize) and pastes
   nothing; backward with dot_out adds each owned row's sum_k A dA over this tile to dot_out and
   pastes nothing, and with dot_in takes that sum (over all tiles) from dot_in. */
void NAME(paste_stream)(const REAL *qt, const REAL *kp, long c, const REAL *gt,
                        const REAL *vp, long cv, const REAL *scale, const REAL *bias,
                        REAL *lse, int normalize, REAL *pasted, REAL *d_pixel, REAL *part,
                        REAL *dot_out, const REAL *dot_in, REAL *scratch, long qs, long row, long nlev, const long *ks,
                        const long *klen, const long *wk, long wq, long pad, long n,
                        long pieces, int threads) {
    const long reach = pad * wq + pad, ring = 2 * reach + 1, ring_p = ring + MR;
    const long qa = qs - 2 * pad * wq, lp = (row + PW - 1) / PW * PW;
    const long own_scratch = NAME(paste_stream_scratch)(row, wq, pad, c, cv, gt != NULL);
    #pragma omp parallel num_threads(threads)
    {
    int me = omp_get_thread_num();
    long rings = gt ? 2 : 1;
    /* scratch reused by every block of a call: fresh pages per block would fault on touch */
    REAL *x = scratch + me * own_scratch;
    REAL *tail = x + row * (2 + rings * (ring + ring_p));
    REAL *spare = x + row, *ring_a = spare + row, *ring_d = ring_a + ring * row;
    REAL *ring_s = ring_a + rings * ring * row, *ring_g = ring_s + ring_p * row;
    const REAL *rp[MAX_TAPS];
    /* pieces of consecutive output rows handed out as threads free up: a thread slowed by
       another process on its core takes fewer of them; each piece's results (and its share
       of the scale gradient) depend on the piece, not on the thread that computes it */
    #pragma omp for schedule(dynamic, 1)
    for (long piece = 0; piece < pieces; ++piece) {
    long b0 = n * qs * piece / pieces, b1 = n * qs * (piece + 1) / pieces;
    REAL *mine = part ? part + piece * n * row : NULL;
    long image = -1, next = 0, pnext = 0;
    for (long t = b0; t < b1; ++t) {
        long i = t / qs, q = t % qs;
        long last = q - pad * wq + reach < qa - 1 ? q - pad * wq + reach : qa - 1;
        if (i != image) {
            image = i;
            next = q - pad * wq - reach > 0 ? q - pad * wq - reach : 0;
            pnext = next - pad > 0 ? next - pad : 0;
        }
        for (; next <= last; ++next) {
            long r = next, col = r % wq, slot = r % ring;
            int own = i * qs + r + pad * wq >= b0 && i * qs + r + pad * wq < b1;
            REAL *w = ring_a + slot * row, *d = ring_d + slot * row;
            /* the pixel-score rows this weight row's box sum reads */
            long need = r + pad * wq + reach < qs - 1 ? r + pad * wq + reach : qs - 1;
            for (; pnext <= need; pnext += MR) {
                NAME(pixel_group)(qt + i * qs * c, c, kp + i * lp * c, ring_s, ring_p, pnext,
                                  qs, row, spare, tail);
                if (gt)
                    NAME(pixel_group)(gt + i * qs * cv, cv, vp + i * lp * cv, ring_g, ring_p,
                                      pnext, qs, row, spare, tail);
            }
            if (col < pad || col >= wq - pad) {
                memset(w, 0, sizeof(REAL) * row);
                if (gt) memset(d, 0, sizeof(REAL) * row);
                if (own && normalize && !gt) lse[i * qa + r] = 0;
                continue;
            }
            const REAL *sc = scale + i * row;
            NAME(tap_rows)(rp, ring_s, ring_p, qs, row, r, pad * wq, wq, pad);
            NAME(box_taps)(rp, x, nlev, ks, klen, wk, pad);
            if (normalize && !gt) {
                if (!pasted) {
                    if (own) lse[i * qa + r] = NAME(lse_row)(x, sc, bias, row);
                    continue;
                }
                REAL l = NAME(softmax_row)(x, sc, bias, w, row);
                if (own) lse[i * qa + r] = l;
                continue;
            }
            NAME(exp_row)(x, sc, bias, lse[i * qa + r], w, row);
            if (!gt) continue;
            NAME(tap_rows)(rp, ring_g, ring_p, qs, row, r, pad * wq, wq, pad);
            NAME(box_taps)(rp, d, nlev, ks, klen, wk, pad);
            REAL dot = 0;
            if (dot_in) {
                dot = dot_in[i * qa + r];
            } else {
                #pragma omp simd reduction(+:dot)
                for (long k = 0; k < row; ++k) dot += w[k] * d[k];
            }
            if (dot_out) {
                if (own) dot_out[i * qa + r] += dot;
                continue;
            }
            REAL *pr = mine + i * row;
            if (own) {
                #pragma omp simd
                for (long k = 0; k < row; ++k) {
                    REAL ds = w[k] * (d[k] - dot);
                    pr[k] += ds * x[k];
                    d[k] = ds * sc[k];
                }
            } else {
                #pragma omp simd
                for (long k = 0; k < row; ++k) d[k] = w[k] * (d[k] - dot) * sc[k];
            }
        }
        if (!pasted) continue;
        NAME(tap_rows)(rp, ring_a, ring, qa, row, q, -pad * wq, wq, pad);
        NAME(box_taps)(rp, pasted + t * row, nlev, ks, klen, wk, pad);
        if (!gt) continue;
        NAME(tap_rows)(rp, ring_d, ring, qa, row, q, -pad * wq, wq, pad);
        NAME(box_taps)(rp, d_pixel + t * row, nlev, ks, klen, wk, pad);
    }
    }
    }
}
