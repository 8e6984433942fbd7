"""The official CSNLN forward (SHI-Labs/Cross-Scale-Non-Local-Attention), re-stated here in
our own words as plain functions of a state dict in the authors' key layout, image by image
(the authors loop over the batch). Nothing of ours is imported, so equality with it tests both
the arithmetic and the key names of ``panet.models.csnln`` / ``panet.attention.cross_scale``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

State = Mapping[str, Tensor]


def _conv_act(x: Tensor, sd: State, prefix: str, stride: int = 1, pad: int | None = None) -> Tensor:
    """``{prefix}0`` convolution (padding k//2 unless given) then the ``{prefix}1`` PReLU."""
    weight = sd[prefix + "0.weight"]
    pad = weight.shape[-1] // 2 if pad is None else pad
    y = F.conv2d(x, weight, sd[prefix + "0.bias"], stride=stride, padding=pad)
    return F.prelu(y, sd[prefix + "1.weight"])


def _deconv_act(x: Tensor, sd: State, prefix: str, stride: int, pad: int) -> Tensor:
    y = F.conv_transpose2d(x, sd[prefix + "0.weight"], sd[prefix + "0.bias"], stride, pad)
    return F.prelu(y, sd[prefix + "1.weight"])


def _tf_same_pad(x: Tensor, kernel: int, stride: int) -> Tensor:
    """TensorFlow 'same' zero padding for a ``kernel`` window moved by ``stride`` (extra pixel
    at the bottom/right when the total is odd), as the authors' patch helper computes it."""
    rows, cols = x.shape[-2:]
    pad_rows = max(0, (-(-rows // stride) - 1) * stride + kernel - rows)
    pad_cols = max(0, (-(-cols // stride) - 1) * stride + kernel - cols)
    top, left = pad_rows // 2, pad_cols // 2
    return F.pad(x, (left, pad_cols - left, top, pad_rows - top))


def _patches(x: Tensor, kernel: int, stride: int) -> Tensor:
    """[1, C, H, W] -> [L, C, kernel, kernel] with TF 'same' padding."""
    cols = F.unfold(_tf_same_pad(x, kernel, stride), kernel, stride=stride)
    return cols[0].t().reshape(-1, x.shape[1], kernel, kernel)


def reference_in_scale(x: Tensor, sd: State, prefix: str) -> Tensor:
    n, _, h, w = x.shape
    theta = _conv_act(x, sd, prefix + "conv_match1.")
    phi = _conv_act(x, sd, prefix + "conv_match2.")
    g = _conv_act(x, sd, prefix + "conv_assembly.")
    a = theta.permute(0, 2, 3, 1).reshape(n, h * w, -1)
    b = phi.reshape(n, phi.shape[1], h * w)
    attn = torch.softmax(torch.matmul(a, b), dim=2)
    out = torch.matmul(attn, g.reshape(n, g.shape[1], h * w).permute(0, 2, 1))
    return out.permute(0, 2, 1).reshape(n, -1, h, w)


def reference_cross_scale(
    x: Tensor, sd: State, prefix: str, u: int, softmax_scale: float = 10.0, hard: bool = False
) -> Tensor:
    value = _conv_act(x, sd, prefix + "conv_assembly.")
    query = _conv_act(x, sd, prefix + "conv_match_1.")
    small = F.interpolate(x, scale_factor=1.0 / u, mode="bilinear")
    key = _conv_act(small, sd, prefix + "conv_match_2.")
    floor = sd[prefix + "escape_NaN"]
    results = []
    for i in range(x.shape[0]):
        kp = _patches(key[i : i + 1], 3, 1)
        norms = kp.pow(2).sum(dim=(1, 2, 3), keepdim=True).sqrt()
        kp = kp / torch.max(norms, floor)
        vp = _patches(value[i : i + 1], 3 * u, u)
        score = F.conv2d(_tf_same_pad(query[i : i + 1], 3, 1), kp)
        weights = torch.softmax(score * softmax_scale, dim=1)
        if hard:
            weights = (weights == weights.max(dim=1, keepdim=True)[0]).float()
        results.append(F.conv_transpose2d(weights, vp, stride=u, padding=u) / 6.0)
    return torch.cat(results, dim=0)


def _res_block(x: Tensor, sd: State, prefix: str) -> Tensor:
    y = F.conv2d(x, sd[prefix + "body.0.weight"], sd[prefix + "body.0.bias"], padding=1)
    y = F.prelu(y, sd[prefix + "body.1.weight"])
    y = F.conv2d(y, sd[prefix + "body.2.weight"], sd[prefix + "body.2.bias"], padding=1)
    return y + x


def _projection(x: Tensor, sd: State, prefix: str, u: int) -> Tensor:
    k, s, p = {2: (6, 2, 2), 3: (9, 3, 3)}[u]
    down = _deconv_act(
        reference_in_scale(x, sd, prefix + "down_attention."), sd, prefix + "upsample.", s, p
    )
    up = reference_cross_scale(x, sd, prefix + "up_attention.", u)
    return down + _res_block(up - down, sd, prefix + "encoder.")


def _sem(x: Tensor, sd: State, scale: int) -> tuple[Tensor, Tensor]:
    u = 3 if scale == 3 else 2
    _, s, p = {2: (6, 2, 2), 3: (9, 3, 3)}[u]
    x_up = _projection(x, sd, "SEM.multi_source_projection.", u)
    h = x_up + _deconv_act(
        x - _conv_act(x_up, sd, "SEM.down_sample_1.", s, p), sd, "SEM.error_encode.", s, p
    )
    if scale == 4:
        x_up = _projection(h, sd, "SEM.multi_source_projection_2.", u)
        back = _conv_act(x_up, sd, "SEM.down_sample_3.", 4, 2)
        h = x_up + _deconv_act(x - back, sd, "SEM.error_encode_2.", 4, 2)
        return _conv_act(_conv_act(h, sd, "SEM.down_sample_4.", 4, 2), sd, "SEM.post_conv."), h
    return _conv_act(_conv_act(h, sd, "SEM.down_sample_2.", s, p), sd, "SEM.post_conv."), h


def reference_csnln(x: Tensor, sd: State, scale: int, depth: int) -> Tensor:
    """The authors' CSNLN forward on ``x`` [B, 3, h, w] in [0, 1]."""
    y = F.conv2d(x, sd["sub_mean.weight"], sd["sub_mean.bias"])
    y = _conv_act(_conv_act(y, sd, "head.0."), sd, "head.1.")
    bag = []
    for _ in range(depth):
        y, h = _sem(y, sd, scale)
        bag.append(h)
    out = F.conv2d(torch.cat(bag, dim=1), sd["tail.0.weight"], sd["tail.0.bias"], padding=1)
    return F.conv2d(out, sd["add_mean.weight"], sd["add_mean.bias"])
