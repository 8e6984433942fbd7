"""MPRNet (Zamir et al., "Multi-Stage Progressive Image Restoration", CVPR 2021): three stages
that see the image as 4 quarters, 2 halves and the whole, joined by supervised attention
modules (SAM) and cross-stage feature fusion (CSFF). Pixels in [0, 1].

Module and parameter names follow the authors' ``MPRNet.py`` so that their checkpoints load
with the keys unchanged (``panet/checkpoints/official/mprnet.py``). Every convolution is
bias-free and one PReLU is shared by all channel-attention blocks (the authors build one
``nn.PReLU`` and hand it to every block): it appears under 55 state-dict keys but is a single
parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: The authors' three networks: ``(n_feats, scale_unetfeats, scale_orsnetfeats)``.
MPRNET_VARIANTS: Mapping[str, tuple[int, int, int]] = {
    "deblur": (96, 48, 32),
    "derain": (40, 20, 16),
    "denoise": (80, 48, 32),
}
#: Heights and widths must be multiples of this: quarters, then two ×0.5 down-samplings.
MPRNET_INPUT_MULTIPLE = 8

Features = list[Tensor]


def plain_conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Conv2d:
    """Bias-free, stride 1, zero 'same' padding (odd ``kernel_size``)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)


class Resample(nn.Module):
    """Bilinear resizing by ``factor`` (``align_corners=False``), no parameters."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=self.factor, mode="bilinear", align_corners=False)


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation gate: the features times sigmoid(1x1 -> ReLU -> 1x1 of their
    spatial mean). Keys ``conv_du.0`` (C -> C/r) and ``conv_du.2`` (C/r -> C)."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1, bias=False),
            nn.ReLU(),
            nn.Conv2d(channels // reduction, channels, 1, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.conv_du(x.mean(dim=(-2, -1), keepdim=True))


class CAB(nn.Module):
    """Channel attention block: x + CA(conv(act(conv(x)))); ``act`` is the network's shared
    PReLU. Keys ``body.0``/``body.2`` (convs), ``body.1`` (the PReLU), ``CA``."""

    def __init__(self, channels: int, kernel_size: int, reduction: int, act: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(
            plain_conv(channels, channels, kernel_size),
            act,
            plain_conv(channels, channels, kernel_size),
        )
        self.CA = ChannelAttention(channels, reduction)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.CA(self.body(x))


def cab_pair(channels: int, kernel_size: int, reduction: int, act: nn.Module) -> nn.Sequential:
    return nn.Sequential(*(CAB(channels, kernel_size, reduction, act) for _ in range(2)))


class DownSample(nn.Module):
    """Bilinear ×0.5, then a 1x1 conv adding ``extra`` channels (key ``down.1``)."""

    def __init__(self, channels: int, extra: int) -> None:
        super().__init__()
        self.down = nn.Sequential(
            Resample(0.5), nn.Conv2d(channels, channels + extra, 1, bias=False)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.down(x)


class UpSample(nn.Module):
    """Bilinear ×2, then a 1x1 conv from ``channels + extra`` to ``channels`` (key ``up.1``)."""

    def __init__(self, channels: int, extra: int) -> None:
        super().__init__()
        self.up = nn.Sequential(Resample(2.0), nn.Conv2d(channels + extra, channels, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.up(x)


class SkipUpSample(UpSample):
    """``UpSample(x)`` plus the skip connection ``skip``."""

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:  # type: ignore[override]
        return self.up(x) + skip


class Encoder(nn.Module):
    """Three levels of two CABs (widths n, n+s, n+2s), ×0.5 between them. With ``csff`` (stage
    2) each level adds 1x1 convs of the previous stage's encoder and decoder features."""

    def __init__(
        self, n_feats: int, step: int, kernel_size: int, reduction: int, act: nn.Module, csff: bool
    ) -> None:
        super().__init__()
        widths = (n_feats, n_feats + step, n_feats + 2 * step)
        self.encoder_level1 = cab_pair(widths[0], kernel_size, reduction, act)
        self.encoder_level2 = cab_pair(widths[1], kernel_size, reduction, act)
        self.encoder_level3 = cab_pair(widths[2], kernel_size, reduction, act)
        self.down12 = DownSample(widths[0], step)
        self.down23 = DownSample(widths[1], step)
        self.csff = csff
        if csff:
            for level, width in enumerate(widths, start=1):
                setattr(self, f"csff_enc{level}", nn.Conv2d(width, width, 1, bias=False))
                setattr(self, f"csff_dec{level}", nn.Conv2d(width, width, 1, bias=False))

    def _fuse(self, level: int, x: Tensor, previous: tuple[Features, Features] | None) -> Tensor:
        if previous is None:
            return x
        encoded, decoded = previous
        fuse_enc = getattr(self, f"csff_enc{level}")
        fuse_dec = getattr(self, f"csff_dec{level}")
        return x + fuse_enc(encoded[level - 1]) + fuse_dec(decoded[level - 1])

    def forward(self, x: Tensor, previous: tuple[Features, Features] | None = None) -> Features:
        """``previous``: the earlier stage's (encoder, decoder) features, only with ``csff``."""
        if (previous is not None) != self.csff:
            raise ValueError("stage-2 encoders (csff) need the stage-1 features; others take none")
        enc1 = self._fuse(1, self.encoder_level1(x), previous)
        enc2 = self._fuse(2, self.encoder_level2(self.down12(enc1)), previous)
        enc3 = self._fuse(3, self.encoder_level3(self.down23(enc2)), previous)
        return [enc1, enc2, enc3]


class Decoder(nn.Module):
    """From level 3 up: two CABs per level, ×2 up-sampling plus a CAB-refined skip."""

    def __init__(
        self, n_feats: int, step: int, kernel_size: int, reduction: int, act: nn.Module
    ) -> None:
        super().__init__()
        widths = (n_feats, n_feats + step, n_feats + 2 * step)
        self.decoder_level1 = cab_pair(widths[0], kernel_size, reduction, act)
        self.decoder_level2 = cab_pair(widths[1], kernel_size, reduction, act)
        self.decoder_level3 = cab_pair(widths[2], kernel_size, reduction, act)
        self.skip_attn1 = CAB(widths[0], kernel_size, reduction, act)
        self.skip_attn2 = CAB(widths[1], kernel_size, reduction, act)
        self.up21 = SkipUpSample(widths[0], step)
        self.up32 = SkipUpSample(widths[1], step)

    def forward(self, encoded: Features) -> Features:
        """Encoder features ``[level1, level2, level3]`` -> decoder features, same order."""
        dec3 = self.decoder_level3(encoded[2])
        dec2 = self.decoder_level2(self.up32(dec3, self.skip_attn2(encoded[1])))
        dec1 = self.decoder_level1(self.up21(dec2, self.skip_attn1(encoded[0])))
        return [dec1, dec2, dec3]


class SAM(nn.Module):
    """Supervised attention module (1x1 convs here, as the authors build it): predicts the
    stage's image ``conv2(f) + degraded`` and gates the features with it."""

    def __init__(self, n_feats: int, n_colors: int) -> None:
        super().__init__()
        self.conv1 = plain_conv(n_feats, n_feats, 1)
        self.conv2 = plain_conv(n_feats, n_colors, 1)
        self.conv3 = plain_conv(n_colors, n_feats, 1)

    def forward(self, features: Tensor, degraded: Tensor) -> tuple[Tensor, Tensor]:
        """Returns (gated features, the stage's restored image)."""
        image = self.conv2(features) + degraded
        gated = self.conv1(features) * torch.sigmoid(self.conv3(image)) + features
        return gated, image


class ORB(nn.Module):
    """Original-resolution block: ``num_cab`` CABs and a conv, plus the input."""

    def __init__(
        self, channels: int, kernel_size: int, reduction: int, act: nn.Module, num_cab: int
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = [
            CAB(channels, kernel_size, reduction, act) for _ in range(num_cab)
        ]
        self.body = nn.Sequential(*blocks, plain_conv(channels, channels, kernel_size))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ORSNet(nn.Module):
    """Stage 3: three ORBs at width n + s_o, each followed by 1x1 convs of the stage-2 encoder
    and decoder features of one level, brought to full resolution and width n."""

    def __init__(
        self,
        n_feats: int,
        unet_step: int,
        orsnet_step: int,
        kernel_size: int,
        reduction: int,
        act: nn.Module,
        num_cab: int,
    ) -> None:
        super().__init__()
        width = n_feats + orsnet_step
        for index in (1, 2, 3):
            setattr(self, f"orb{index}", ORB(width, kernel_size, reduction, act, num_cab))
        self.up_enc1 = UpSample(n_feats, unet_step)
        self.up_dec1 = UpSample(n_feats, unet_step)
        self.up_enc2 = nn.Sequential(
            UpSample(n_feats + unet_step, unet_step), UpSample(n_feats, unet_step)
        )
        self.up_dec2 = nn.Sequential(
            UpSample(n_feats + unet_step, unet_step), UpSample(n_feats, unet_step)
        )
        for index in (1, 2, 3):
            setattr(self, f"conv_enc{index}", nn.Conv2d(n_feats, width, 1, bias=False))
            setattr(self, f"conv_dec{index}", nn.Conv2d(n_feats, width, 1, bias=False))

    def forward(self, x: Tensor, encoded: Features, decoded: Features) -> Tensor:
        to_full_res: tuple[tuple[Callable[[Tensor], Tensor], ...], ...] = (
            (_unchanged, _unchanged),
            (self.up_enc1, self.up_dec1),
            (self.up_enc2, self.up_dec2),
        )
        for index, (lift_enc, lift_dec) in enumerate(to_full_res, start=1):
            x = getattr(self, f"orb{index}")(x)
            x = x + getattr(self, f"conv_enc{index}")(lift_enc(encoded[index - 1]))
            x = x + getattr(self, f"conv_dec{index}")(lift_dec(decoded[index - 1]))
        return x


def _unchanged(x: Tensor) -> Tensor:
    return x


def _split(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """The two halves of ``x`` along ``dim`` (the first one ``size // 2`` long)."""
    half = x.shape[dim] // 2
    return x.narrow(dim, 0, half), x.narrow(dim, half, x.shape[dim] - half)


def _join_pairs(batched: Features, dim: int) -> Features:
    """Each ``[2B, ...]`` tensor -> ``[B, ...]``: its two batch halves joined along ``dim``.

    The pieces of an image travel through shared-weight modules as one batch (first pieces,
    then second pieces); every operation there acts per sample, so this equals running each
    piece on its own.
    """
    return [torch.cat(_split(t, 0), dim=dim) for t in batched]


class MPRNet(nn.Module):
    """Three-stage MPRNet.

    Args:
        variant: ``"deblur"``, ``"derain"`` or ``"denoise"`` picks the authors' widths (see
            ``MPRNET_VARIANTS``); None when all three widths are given.
        n_colors: image channels (3 in the authors' models).
        n_feats, scale_unetfeats, scale_orsnetfeats: base width, the width added per U-Net
            level, and the width added in stage 3. With a variant they may be left None or
            must equal the variant's.
        num_cab: CABs per ORB (8).
        kernel_size: convolution size (3).
        reduction: channel-attention reduction (4).

    Forward: ``[B, n_colors, H, W]`` in [0, 1], H and W multiples of 8 -> the list of stage
    images ``[stage3, stage2, stage1]``, each the input's shape (not clamped); the first is
    the restoration. ``input_multiple`` tells the inference code to pad other sizes.
    """

    arch = "mprnet"
    pixel_range = 1.0
    scale = 1
    input_multiple = MPRNET_INPUT_MULTIPLE

    def __init__(
        self,
        variant: str | None = "deblur",
        n_colors: int = 3,
        n_feats: int | None = None,
        scale_unetfeats: int | None = None,
        scale_orsnetfeats: int | None = None,
        num_cab: int = 8,
        kernel_size: int = 3,
        reduction: int = 4,
    ) -> None:
        super().__init__()
        n_feats, scale_unetfeats, scale_orsnetfeats = resolve_widths(
            variant, (n_feats, scale_unetfeats, scale_orsnetfeats)
        )
        for name, value in (("n_colors", n_colors), ("num_cab", num_cab), ("reduction", reduction)):
            if value < 1:
                raise ValueError(f"MPRNet {name} must be positive; got {value}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"MPRNet kernel_size must be odd and positive; got {kernel_size}")
        self.arch_args: dict[str, Any] = {
            "variant": variant,
            "n_colors": n_colors,
            "n_feats": n_feats,
            "scale_unetfeats": scale_unetfeats,
            "scale_orsnetfeats": scale_orsnetfeats,
            "num_cab": num_cab,
            "kernel_size": kernel_size,
            "reduction": reduction,
        }
        k, r, n, s_u = kernel_size, reduction, n_feats, scale_unetfeats
        act = nn.PReLU()  # the one activation of every CAB
        for index in (1, 2, 3):
            shallow = nn.Sequential(plain_conv(n_colors, n, k), CAB(n, k, r, act))
            setattr(self, f"shallow_feat{index}", shallow)
        self.stage1_encoder = Encoder(n, s_u, k, r, act, csff=False)
        self.stage1_decoder = Decoder(n, s_u, k, r, act)
        self.stage2_encoder = Encoder(n, s_u, k, r, act, csff=True)
        self.stage2_decoder = Decoder(n, s_u, k, r, act)
        self.stage3_orsnet = ORSNet(n, s_u, scale_orsnetfeats, k, r, act, num_cab)
        self.sam12 = SAM(n, n_colors)
        self.sam23 = SAM(n, n_colors)
        self.concat12 = plain_conv(2 * n, n, k)
        self.concat23 = plain_conv(2 * n, n + scale_orsnetfeats, k)
        self.tail = plain_conv(n + scale_orsnetfeats, n_colors, k)

    def forward(self, x: Tensor) -> list[Tensor]:
        """``[B, C, H, W]`` -> ``[stage3, stage2, stage1]`` (see the class docstring)."""
        height, width = x.shape[-2:]
        if height % self.input_multiple or width % self.input_multiple:
            raise ValueError(
                f"MPRNet needs heights and widths that are multiples of {self.input_multiple}; "
                f"got {height}x{width} (panet.inference pads any size: use restore())"
            )
        top, bottom = _split(x, -2)
        halves = torch.cat((top, bottom))  # [2B]: top halves, then bottom halves

        # Stage 1: the four quarters share the shallow features and encoder; each half's left
        # and right quarter features are joined along the width before its decoder.
        left, right = _split(halves, -1)
        quarters = torch.cat((left, right))  # [4B]
        enc1 = _join_pairs(self.stage1_encoder(self.shallow_feat1(quarters)), dim=-1)
        dec1 = self.stage1_decoder(enc1)
        sam_features, stage1_halves = self.sam12(dec1[0], halves)
        stage1 = torch.cat(_split(stage1_halves, 0), dim=-2)

        # Stage 2: per half, fused with stage 1, then joined along the height for the decoder.
        shallow2 = self.shallow_feat2(halves)
        merged = self.concat12(torch.cat((shallow2, sam_features), dim=1))
        enc2 = _join_pairs(self.stage2_encoder(merged, (enc1, dec1)), dim=-2)
        dec2 = self.stage2_decoder(enc2)
        sam_features, stage2 = self.sam23(dec2[0], x)

        # Stage 3: the whole image at full resolution.
        merged = self.concat23(torch.cat((self.shallow_feat3(x), sam_features), dim=1))
        stage3 = self.tail(self.stage3_orsnet(merged, enc2, dec2)) + x
        return [stage3, stage2, stage1]


def resolve_widths(variant: str | None, widths: Sequence[int | None]) -> tuple[int, int, int]:
    """``(n_feats, scale_unetfeats, scale_orsnetfeats)`` from a variant and explicit widths.

    Raises ValueError for an unknown variant, a width that contradicts the variant, or a
    missing width without a variant.
    """
    names = ("n_feats", "scale_unetfeats", "scale_orsnetfeats")
    if variant is None:
        missing = [name for name, value in zip(names, widths, strict=True) if value is None]
        if missing:
            raise ValueError(
                f"MPRNet without a variant needs {missing}; or set variant to one of "
                f"{sorted(MPRNET_VARIANTS)}"
            )
        resolved = tuple(int(w) for w in widths if w is not None)
    else:
        if variant not in MPRNET_VARIANTS:
            raise ValueError(
                f"unknown MPRNet variant {variant!r}; choose one of {sorted(MPRNET_VARIANTS)} "
                "(or variant=null with explicit widths)"
            )
        official = MPRNET_VARIANTS[variant]
        clashes = [
            f"{name}={value} (the variant has {expected})"
            for name, value, expected in zip(names, widths, official, strict=True)
            if value is not None and value != expected
        ]
        if clashes:
            raise ValueError(
                f"MPRNet variant {variant!r} fixes the widths, but got {', '.join(clashes)}; "
                "set variant=null to choose your own"
            )
        resolved = official
    if any(w < 1 for w in resolved):
        raise ValueError(
            f"MPRNet widths must be positive; got {dict(zip(names, resolved, strict=True))}"
        )
    return resolved[0], resolved[1], resolved[2]


def variant_of(n_feats: int, scale_unetfeats: int, scale_orsnetfeats: int) -> str | None:
    """The name of the authors' variant with these widths, if any."""
    for name, widths in MPRNET_VARIANTS.items():
        if widths == (n_feats, scale_unetfeats, scale_orsnetfeats):
            return name
    return None
