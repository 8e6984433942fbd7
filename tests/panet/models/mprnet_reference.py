"""An independent re-statement of the authors' MPRNet for tests: the state dict their
``MPRNet.py`` saves (its key names and shapes, built here from the description in
``shared/docs/seed-systems.md``) and their forward pass written functionally over that dict,
piece by piece (four quarters, two halves, the whole image) as their code loops.

Nothing here imports ``panet.models.mprnet``: a disagreement with it is a real finding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

State = dict[str, Tensor]

#: (n_feat, scale_unetfeats, scale_orsnetfeats) of the authors' three networks.
OFFICIAL_WIDTHS = {"deblur": (96, 48, 32), "derain": (40, 20, 16), "denoise": (80, 48, 32)}
PRELU_SUFFIX = "body.1.weight"


def official_state(
    n_feat: int,
    s_u: int,
    s_o: int,
    *,
    n_colors: int = 3,
    num_cab: int = 8,
    reduction: int = 4,
    k: int = 3,
    seed: int = 0,
) -> State:
    """Random weights under the authors' keys; the shared PReLU is one tensor under every CAB's
    ``body.1.weight`` (as ``state_dict()`` of their model lists it)."""
    generator = torch.Generator().manual_seed(seed)
    slope = torch.rand(1, generator=generator) * 0.5
    state: State = {}

    def weight(key: str, out_c: int, in_c: int, size: int) -> None:
        fan_in = in_c * size * size
        w = torch.randn(out_c, in_c, size, size, generator=generator) / fan_in**0.5
        state[key] = w

    def cab(prefix: str, c: int) -> None:
        weight(f"{prefix}.body.0.weight", c, c, k)
        state[f"{prefix}.{PRELU_SUFFIX}"] = slope
        weight(f"{prefix}.body.2.weight", c, c, k)
        weight(f"{prefix}.CA.conv_du.0.weight", c // reduction, c, 1)
        weight(f"{prefix}.CA.conv_du.2.weight", c, c // reduction, 1)

    widths = (n_feat, n_feat + s_u, n_feat + 2 * s_u)
    for i in (1, 2, 3):
        weight(f"shallow_feat{i}.0.weight", n_feat, n_colors, k)
        cab(f"shallow_feat{i}.1", n_feat)
    for stage in (1, 2):
        enc, dec = f"stage{stage}_encoder", f"stage{stage}_decoder"
        for level, c in enumerate(widths, start=1):
            for j in (0, 1):
                cab(f"{enc}.encoder_level{level}.{j}", c)
                cab(f"{dec}.decoder_level{level}.{j}", c)
            if stage == 2:
                weight(f"{enc}.csff_enc{level}.weight", c, c, 1)
                weight(f"{enc}.csff_dec{level}.weight", c, c, 1)
        weight(f"{enc}.down12.down.1.weight", widths[1], widths[0], 1)
        weight(f"{enc}.down23.down.1.weight", widths[2], widths[1], 1)
        cab(f"{dec}.skip_attn1", widths[0])
        cab(f"{dec}.skip_attn2", widths[1])
        weight(f"{dec}.up21.up.1.weight", widths[0], widths[1], 1)
        weight(f"{dec}.up32.up.1.weight", widths[1], widths[2], 1)
    c3 = n_feat + s_o
    for i in (1, 2, 3):
        for j in range(num_cab):
            cab(f"stage3_orsnet.orb{i}.body.{j}", c3)
        weight(f"stage3_orsnet.orb{i}.body.{num_cab}.weight", c3, c3, k)
        weight(f"stage3_orsnet.conv_enc{i}.weight", c3, n_feat, 1)
        weight(f"stage3_orsnet.conv_dec{i}.weight", c3, n_feat, 1)
    for side in ("enc", "dec"):
        weight(f"stage3_orsnet.up_{side}1.up.1.weight", n_feat, widths[1], 1)
        weight(f"stage3_orsnet.up_{side}2.0.up.1.weight", widths[1], widths[2], 1)
        weight(f"stage3_orsnet.up_{side}2.1.up.1.weight", n_feat, widths[1], 1)
    for sam in ("sam12", "sam23"):
        weight(f"{sam}.conv1.weight", n_feat, n_feat, 1)
        weight(f"{sam}.conv2.weight", n_colors, n_feat, 1)
        weight(f"{sam}.conv3.weight", n_feat, n_colors, 1)
    weight("concat12.weight", n_feat, 2 * n_feat, k)
    weight("concat23.weight", c3, 2 * n_feat, k)
    weight("tail.weight", n_colors, c3, k)
    return state


class _Reference:
    """The authors' forward over a state dict, one piece at a time."""

    def __init__(self, state: State, num_cab: int) -> None:
        self.w = state
        self.num_cab = num_cab

    def conv(self, key: str, x: Tensor) -> Tensor:
        weight = self.w[key]
        return F.conv2d(x, weight, padding=weight.shape[-1] // 2)

    def cab(self, p: str, x: Tensor) -> Tensor:
        r = self.conv(f"{p}.body.0.weight", x)
        r = F.prelu(r, self.w[f"{p}.{PRELU_SUFFIX}"])
        r = self.conv(f"{p}.body.2.weight", r)
        gate = r.mean(dim=(2, 3), keepdim=True)
        gate = F.relu(self.conv(f"{p}.CA.conv_du.0.weight", gate))
        gate = torch.sigmoid(self.conv(f"{p}.CA.conv_du.2.weight", gate))
        return r * gate + x

    def cabs(self, p: str, x: Tensor, n: int = 2) -> Tensor:
        for j in range(n):
            x = self.cab(f"{p}.{j}", x)
        return x

    @staticmethod
    def resize(x: Tensor, factor: float) -> Tensor:
        return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)

    def up(self, p: str, x: Tensor) -> Tensor:
        return self.conv(f"{p}.up.1.weight", self.resize(x, 2.0))

    def encoder(self, p: str, x: Tensor, prev_enc=None, prev_dec=None) -> list[Tensor]:
        out = []
        for level in (1, 2, 3):
            if level > 1:
                x = self.conv(f"{p}.down{level - 1}{level}.down.1.weight", self.resize(x, 0.5))
            x = self.cabs(f"{p}.encoder_level{level}", x)
            if prev_enc is not None:
                x = (
                    x
                    + self.conv(f"{p}.csff_enc{level}.weight", prev_enc[level - 1])
                    + self.conv(f"{p}.csff_dec{level}.weight", prev_dec[level - 1])
                )
            out.append(x)
        return out

    def decoder(self, p: str, feats: list[Tensor]) -> list[Tensor]:
        d3 = self.cabs(f"{p}.decoder_level3", feats[2])
        d2 = self.up(f"{p}.up32", d3) + self.cab(f"{p}.skip_attn2", feats[1])
        d2 = self.cabs(f"{p}.decoder_level2", d2)
        d1 = self.up(f"{p}.up21", d2) + self.cab(f"{p}.skip_attn1", feats[0])
        d1 = self.cabs(f"{p}.decoder_level1", d1)
        return [d1, d2, d3]

    def sam(self, p: str, f: Tensor, img: Tensor) -> tuple[Tensor, Tensor]:
        out_img = self.conv(f"{p}.conv2.weight", f) + img
        gate = torch.sigmoid(self.conv(f"{p}.conv3.weight", out_img))
        return self.conv(f"{p}.conv1.weight", f) * gate + f, out_img

    def shallow(self, i: int, x: Tensor) -> Tensor:
        return self.cab(f"shallow_feat{i}.1", self.conv(f"shallow_feat{i}.0.weight", x))

    def orb(self, i: int, x: Tensor) -> Tensor:
        p = f"stage3_orsnet.orb{i}.body"
        y = self.cabs(p, x, self.num_cab)
        return self.conv(f"{p}.{self.num_cab}.weight", y) + x

    def __call__(self, x: Tensor) -> list[Tensor]:
        h, w = int(x.shape[2] / 2), int(x.shape[3] / 2)
        halves = [x[:, :, :h], x[:, :, h:]]
        # Stage 1, per half: encode its two quarters, join them along the width, decode.
        stage1_imgs, sam_feats, enc1s, dec1s = [], [], [], []
        for half in halves:
            left, right = half[..., :w], half[..., w:]
            fl = self.encoder("stage1_encoder", self.shallow(1, left))
            fr = self.encoder("stage1_encoder", self.shallow(1, right))
            enc = [torch.cat((a, b), 3) for a, b in zip(fl, fr, strict=True)]
            dec = self.decoder("stage1_decoder", enc)
            feats, img = self.sam("sam12", dec[0], half)
            enc1s.append(enc)
            dec1s.append(dec)
            sam_feats.append(feats)
            stage1_imgs.append(img)
        stage1 = torch.cat(stage1_imgs, 2)
        # Stage 2, per half, then the halves' features joined along the height.
        enc2s = []
        for half, feats, enc, dec in zip(halves, sam_feats, enc1s, dec1s, strict=True):
            merged = self.conv("concat12.weight", torch.cat((self.shallow(2, half), feats), 1))
            enc2s.append(self.encoder("stage2_encoder", merged, enc, dec))
        enc2 = [torch.cat((a, b), 2) for a, b in zip(*enc2s, strict=True)]
        dec2 = self.decoder("stage2_decoder", enc2)
        feats3, stage2 = self.sam("sam23", dec2[0], x)
        # Stage 3 at full resolution.
        y = self.conv("concat23.weight", torch.cat((self.shallow(3, x), feats3), 1))
        lifts = (
            (lambda t: t, lambda t: t),
            (
                lambda t: self.up("stage3_orsnet.up_enc1", t),
                lambda t: self.up("stage3_orsnet.up_dec1", t),
            ),
            (
                lambda t: self.up("stage3_orsnet.up_enc2.1", self.up("stage3_orsnet.up_enc2.0", t)),
                lambda t: self.up("stage3_orsnet.up_dec2.1", self.up("stage3_orsnet.up_dec2.0", t)),
            ),
        )
        for i, (lift_e, lift_d) in enumerate(lifts, start=1):
            y = self.orb(i, y)
            y = y + self.conv(f"stage3_orsnet.conv_enc{i}.weight", lift_e(enc2[i - 1]))
            y = y + self.conv(f"stage3_orsnet.conv_dec{i}.weight", lift_d(dec2[i - 1]))
        stage3 = self.conv("tail.weight", y) + x
        return [stage3, stage2, stage1]


def reference_forward(state: State, x: Tensor, num_cab: int = 8) -> list[Tensor]:
    """The authors' ``MPRNet.forward`` on ``x`` ``[B, C, H, W]`` with the weights ``state``:
    ``[stage3, stage2, stage1]``."""
    with torch.no_grad():
        return _Reference(state, num_cab)(x)
