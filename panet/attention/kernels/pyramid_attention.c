/* Native kernels of the fast pyramid attention: the pixel scores, the diagonal box sums, the
   softmax and its backward and the paste of one block in one pass, for float and double.
   Compiled on first use by panet/attention/native.py with the system C compiler and OpenMP;
   loaded through ctypes (no torch headers needed). */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#define CHUNK 512
#define MAX_TAPS 121 /* patches up to 11 x 11 (NATIVE_MAX_PATCH); larger use the eager path */
#define VBYTES 32 /* SIMD vector size: one AVX2 register, two NEON or SSE registers */
#define VL ((long)(VBYTES / sizeof(REAL))) /* lanes of REAL per vector */
#define PW (2 * VL) /* keys per packed panel */
#define MR 6 /* pixel-score rows per register tile: 6 x 2 accumulators + 2 panel vectors */

#define REAL float
#define IREAL int32_t
#define EXP_BIAS 127
#define MANTISSA_BITS 23
#define NAME(x) x##_f32
#include "pyramid_attention_body.h"
#undef REAL
#undef IREAL
#undef EXP_BIAS
#undef MANTISSA_BITS
#undef NAME

#define REAL double
#define IREAL int64_t
#define EXP_BIAS 1023
#define MANTISSA_BITS 52
#define NAME(x) x##_f64
#include "pyramid_attention_body.h"
