"""Degradations that turn a clean image into the network's low-quality input.

Each is a small frozen dataclass, callable as ``lq = degradation(gt, generator)`` with

* ``gt``: ``[C, H, W]`` floating-point tensor, values 0–255 (integer-valued for stored images),
  C = 3 (RGB) or 1 (grey / Y);
* ``generator``: a CPU ``torch.Generator`` (training: one seeded stream per worker;
  evaluation: ``data.seeding.eval_generator(name, degradation)``). Deterministic
  degradations accept and ignore it.

They return ``[C, h, w]`` of ``gt``'s dtype, values 0–255, expose ``scale`` (the spatial
factor between gt and lq: 1 except ``BicubicDown``) and ``describe()`` (name + parameters,
plain JSON values: what results files record and what evaluation seeds are derived from).
No global random state is used anywhere.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from panet.imaging.quantize import quantize_uint8, round_half_away
from panet.imaging.resize import imresize_uint8

BAYER_PATTERNS: tuple[str, ...] = ("GRBG", "RGGB", "BGGR", "GBRG")


def _check_image(gt: Tensor, channels: tuple[int, ...], who: str) -> None:
    if not isinstance(gt, Tensor):
        raise TypeError(f"{who} expects a torch.Tensor [C,H,W] 0–255; got {type(gt).__name__}")
    if not gt.is_floating_point():
        raise TypeError(
            f"{who} expects a floating-point tensor with values 0–255; got dtype {gt.dtype} "
            "(convert with .float())"
        )
    if gt.dim() != 3 or gt.shape[0] not in channels:
        raise ValueError(
            f"{who} expects one image shaped [C,H,W] with C in {channels}; got {tuple(gt.shape)}"
        )
    if gt.shape[1] < 1 or gt.shape[2] < 1:
        raise ValueError(f"{who} got an empty image of shape {tuple(gt.shape)}")


@dataclass(frozen=True)
class GaussianNoise:
    """Additive white Gaussian noise N(0, sigma²), sigma on the 0–255 scale.

    With ``clip`` the result is clamped to [0, 255], with ``round`` rounded to integers by
    MATLAB's rule (``panet.imaging.quantize``; the authors' noisy inputs were uint8 PNGs).
    Noise is drawn in float64 from ``generator`` (float64 sampling avoids torch's CPU-specific
    vectorized float32 path, so the same seed gives the same noise on every machine).
    """

    sigma: float
    clip: bool = True
    round: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.sigma, bool) or not isinstance(self.sigma, (int, float)):
            raise TypeError(f"sigma must be a number on the 0–255 scale; got {self.sigma!r}")
        if not self.sigma >= 0:
            raise ValueError(f"sigma must be >= 0 (0–255 scale); got {self.sigma}")
        object.__setattr__(self, "sigma", float(self.sigma))

    @property
    def scale(self) -> int:
        return 1

    def __call__(self, gt: Tensor, generator: torch.Generator | None = None) -> Tensor:
        _check_image(gt, (1, 3), "GaussianNoise")
        if not isinstance(generator, torch.Generator):
            raise TypeError(
                "GaussianNoise needs a torch.Generator (evaluation: "
                "data.seeding.eval_generator(name, degradation))"
            )
        noise = torch.randn(
            gt.shape, generator=generator, dtype=torch.float64, device=generator.device
        )
        lq = gt.double() + self.sigma * noise.to(gt.device)
        if self.clip:
            lq = lq.clamp(0.0, 255.0)
        if self.round:
            lq = round_half_away(lq)
        return lq.to(gt.dtype)

    def describe(self) -> dict[str, object]:
        return {
            "name": "gaussian_noise",
            "sigma": self.sigma,
            "clip": self.clip,
            "round": self.round,
        }


@dataclass(frozen=True)
class BayerMosaic:
    """Bayer colour-filter-array sampling, kept as a 3-channel image with zeros where missing.

    ``pattern`` names the colours of a 2×2 cell row by row: "GRBG" (the default, the
    demosaicing benchmarks' pattern) has green at (0,0) and (1,1), red at (0,1), blue at (1,0).
    Deterministic: the generator is ignored.
    """

    pattern: str = "GRBG"

    def __post_init__(self) -> None:
        if self.pattern not in BAYER_PATTERNS:
            raise ValueError(
                f"unknown Bayer pattern {self.pattern!r}; choose one of {BAYER_PATTERNS}"
            )

    @property
    def scale(self) -> int:
        return 1

    def mask(self, height: int, width: int) -> Tensor:
        """``[3, height, width]`` bool mask, True where the sensor samples that colour."""
        mask = torch.zeros(3, height, width, dtype=torch.bool)
        for cell, colour in enumerate(self.pattern):
            row, col = divmod(cell, 2)
            mask["RGB".index(colour), row::2, col::2] = True
        return mask

    def __call__(self, gt: Tensor, generator: torch.Generator | None = None) -> Tensor:
        _check_image(gt, (3,), "BayerMosaic (needs RGB)")
        mask = self.mask(gt.shape[1], gt.shape[2]).to(gt.device)
        return gt * mask.to(gt.dtype)

    def describe(self) -> dict[str, object]:
        return {"name": "bayer_mosaic", "pattern": self.pattern}


@dataclass(frozen=True)
class JPEG:
    """A real JPEG round trip through libjpeg (Pillow) at ``quality`` 1–100.

    The image is clamped and rounded to uint8, encoded with Pillow's defaults (baseline,
    standard tables scaled by quality; for RGB, 4:2:0 chroma subsampling) and decoded.
    For the CAR task the data pipeline passes the Y channel (1 channel), so this encodes a
    greyscale JPEG; a 3-channel input is encoded as an RGB JPEG, not converted to Y here.
    Deterministic: the generator is ignored.
    """

    quality: int

    def __post_init__(self) -> None:
        if isinstance(self.quality, bool) or not isinstance(self.quality, int):
            raise TypeError(f"JPEG quality must be an integer 1..100; got {self.quality!r}")
        if not 1 <= self.quality <= 100:
            raise ValueError(f"JPEG quality must be in 1..100; got {self.quality}")

    @property
    def scale(self) -> int:
        return 1

    def __call__(self, gt: Tensor, generator: torch.Generator | None = None) -> Tensor:
        _check_image(gt, (1, 3), "JPEG")
        pixels = quantize_uint8(gt).to(torch.uint8).cpu()
        array = pixels[0].numpy() if pixels.shape[0] == 1 else pixels.permute(1, 2, 0).numpy()
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(array)).save(
            buffer, format="JPEG", quality=self.quality
        )
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            out = np.asarray(decoded.convert("L" if pixels.shape[0] == 1 else "RGB"))
        lq = torch.from_numpy(out.copy())
        lq = lq.unsqueeze(0) if lq.dim() == 2 else lq.permute(2, 0, 1)
        return lq.to(device=gt.device, dtype=gt.dtype)

    def describe(self) -> dict[str, object]:
        return {"name": "jpeg", "quality": self.quality}


def crop_to_multiple(img: Tensor, scale: int) -> Tensor:
    """Crop ``[..., H, W]`` at the bottom/right to multiples of ``scale`` (the SR convention)."""
    height, width = img.shape[-2:]
    return img[..., : height - height % scale, : width - width % scale]


@dataclass(frozen=True)
class BicubicDown:
    """MATLAB ``imresize(uint8(gt), 1/scale)``: the bicubic SR degradation, antialiased.

    Reproduces the standard benchmark LR images pixel for pixel (see ``panet.imaging.resize``).
    ``gt`` must have height and width divisible by ``scale``; crop it first with
    ``crop_to_multiple`` (and score against the cropped image). Output is integer-valued,
    ``[C, H/scale, W/scale]``. Deterministic: the generator is ignored.
    """

    scale: int

    def __post_init__(self) -> None:
        if isinstance(self.scale, bool) or not isinstance(self.scale, int):
            raise TypeError(f"scale must be an integer >= 1; got {self.scale!r}")
        if self.scale < 1:
            raise ValueError(f"scale must be >= 1; got {self.scale}")

    def __call__(self, gt: Tensor, generator: torch.Generator | None = None) -> Tensor:
        _check_image(gt, (1, 3), "BicubicDown")
        height, width = gt.shape[1:]
        if height < self.scale or width < self.scale:
            raise ValueError(f"image {height}x{width} is smaller than the scale {self.scale}")
        if height % self.scale or width % self.scale:
            raise ValueError(
                f"image {height}x{width} is not a multiple of scale {self.scale}; crop it "
                "first with data.degradations.crop_to_multiple(gt, scale)"
            )
        if self.scale == 1:
            return quantize_uint8(gt).to(gt.dtype)
        return imresize_uint8(gt, 1.0 / self.scale)

    def describe(self) -> dict[str, object]:
        return {"name": "bicubic_down", "scale": self.scale}
