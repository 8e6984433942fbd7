"""What reduced-precision products inside the pyramid attention would cost in accuracy, measured
by emulation on the CPU: the queries, keys and values (the operands of the score and paste
products; their gradients too, in backward) are rounded to TF32 (10 mantissa bits, what tensor
cores read in TF32 mode) or bfloat16 (7 bits), everything else runs in float32, and the output
and the query's gradient are compared with the float64 result on the same inputs (relative L2
error). The softmax weights entering the paste are not rounded here, so the paste's share of the
error is a lower bound; the scores' share, which the softmax amplifies, dominates.

    python benchmarks/attention_precision.py              # PANet-scale and PA-EDSR-scale rows
    python benchmarks/attention_precision.py --batch 2 --size 32

The attention runs in exact float32 by default on every device; ``PANET_ATTENTION_TF32=1``
lets the Triton kernels use TF32 products. This script is how the error written beside that
option was measured. Rounding the operands is what TF32/bf16 hardware does to them; the
accumulation order of real kernels differs, which moves results by float32 rounding only.
"""

from __future__ import annotations

import argparse
import math

import torch

from panet.attention.faithful import faithful_attention
from panet.attention.pyramid import level_scales

#: Mantissa bits kept by each format (float32 keeps 23).
MANTISSA_BITS = {"tf32": 10, "bf16": 7}


def round_mantissa(x: torch.Tensor, bits: int) -> torch.Tensor:
    """``x`` (float32) rounded to nearest, ties to even, keeping ``bits`` mantissa bits."""
    drop = 23 - bits
    raw = x.contiguous().view(torch.int32)
    half = (1 << (drop - 1)) - 1
    odd = (raw >> drop) & 1
    rounded = ((raw + half + odd) >> drop) << drop
    return rounded.view(torch.float32)


class _Rounded(torch.autograd.Function):
    """Round in forward and pass the gradient, itself rounded, in backward (the operand
    rounding of both passes' products)."""

    @staticmethod
    def forward(ctx, x, bits):  # noqa: D102
        ctx.bits = bits
        return round_mantissa(x, bits)

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        return round_mantissa(grad, ctx.bits), None


def inputs(batch: int, size: int, gain: float, seed: int = 0):
    """Query [B, 32, S, S], keys/values of 5 levels: embeddings of ``gain``-scaled features."""
    gen = torch.Generator().manual_seed(seed)
    sizes = [(math.floor(size * s), math.floor(size * s)) for s in level_scales(5)]
    query = torch.randn(batch, 32, size, size, generator=gen, dtype=torch.float64) * gain
    keys = [
        torch.randn(batch, 32, h, w, generator=gen, dtype=torch.float64) * gain for h, w in sizes
    ]
    values = [torch.randn(batch, 64, h, w, generator=gen, dtype=torch.float64) for h, w in sizes]
    return query, keys, values


def errors(batch: int, size: int, gain: float, fmt: str | None) -> tuple[float, float]:
    """Relative L2 error of the output and of the query's gradient (``fmt`` None: plain
    float32) against float64."""
    q64, k64, v64 = inputs(batch, size, gain)
    leaves = [t.clone().requires_grad_() for t in (q64, *k64, *v64)]
    ref = faithful_attention(leaves[0], leaves[1:6], leaves[6:], patch_size=3,
                             softmax_scale=10.0, hard=False)  # fmt: skip
    upstream = torch.randn(ref.shape, generator=torch.Generator().manual_seed(1), dtype=ref.dtype)
    ref_grad = torch.autograd.grad(ref, leaves[0], upstream)[0]
    low = [t.float().requires_grad_() for t in (q64, *k64, *v64)]
    ops = low if fmt is None else [_Rounded.apply(t, MANTISSA_BITS[fmt]) for t in low]
    out = faithful_attention(ops[0], ops[1:6], ops[6:], patch_size=3, softmax_scale=10.0,
                             hard=False)  # fmt: skip
    grad = torch.autograd.grad(out, low[0], upstream.float())[0]

    def rel(a, b):
        return ((a.double() - b).norm() / b.norm()).item()

    return rel(out, ref), rel(grad, ref_grad)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args()
    print(f"pyramid attention, {args.batch}x(32/64)x{args.size}x{args.size}, 5 levels, k 3, "
          "relative L2 error against float64 (operands rounded as the format does)")  # fmt: skip
    print("| features | products | output error | query-gradient error |")
    print("|---|---|---|---|")
    for label, gain in (("PANet scale (unit variance)", 1.0), ("PA-EDSR scale (x 16)", 16.0)):
        for fmt in (None, "tf32", "bf16"):
            out, grad = errors(args.batch, args.size, gain, fmt)
            print(f"| {label} | {fmt or 'float32'} | {out:.1e} | {grad:.1e} |")


if __name__ == "__main__":
    main()
