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

A degradation may also expose ``margin`` (pixels, default 0): how far its output at a pixel
depends on the input around it (``MotionBlur``: the kernel radius). The datasets then degrade a
region ``margin`` pixels larger on every side and keep only its interior, so no padded border
pixel reaches a training or evaluation pair (``data.datasets.degrade_with_margin``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from data.motion_blur import (
    DEFAULT_SAMPLES,
    apply_psf,
    line_psf,
    max_extent,
    rng_from,
    shake_psf,
)
from data.rain import composite_rain, rain_layer
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


Range = tuple[float, float]


def _range(value: object, what: str, low: float, high: float) -> Range:
    """A number or a [min, max] pair as a checked (min, max) tuple within [low, high]."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a number or [min, max]; got {value!r}")
    if isinstance(value, (int, float)):
        pair = (float(value), float(value))
    else:
        try:
            items = [float(v) for v in value]  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise TypeError(f"{what} must be a number or [min, max]; got {value!r}") from None
        if len(items) != 2:
            raise ValueError(f"{what} must be a number or [min, max]; got {value!r}")
        pair = (items[0], items[1])
    if not low <= pair[0] <= pair[1] <= high:
        raise ValueError(f"{what} must satisfy {low} <= min <= max <= {high}; got {list(pair)}")
    return pair


def _uniform(rng: np.random.Generator, bounds: Range) -> float:
    return float(bounds[0]) if bounds[0] == bounds[1] else float(rng.uniform(*bounds))


def _finish(lq: Tensor, generator: torch.Generator, sigma: float, clip: bool, rnd: bool) -> Tensor:
    """Optional Gaussian noise (float64, from ``generator``), clamp and round, like a PNG."""
    if sigma > 0:
        noise = torch.randn(lq.shape, generator=generator, dtype=torch.float64)
        lq = lq + sigma * noise.to(lq.device)
    if clip:
        lq = lq.clamp(0.0, 255.0)
    if rnd:
        lq = round_half_away(lq)
    return lq


MOTION_KINDS: tuple[str, ...] = ("shake", "linear")


@dataclass(frozen=True)
class MotionBlur:
    """Motion blur by a random point-spread function, then optional Gaussian noise.

    ``kind="shake"``: a camera-shake trajectory (Boracchi & Foi 2012, ``data.motion_blur``)
    of arc length uniform in ``length`` px, shakiness uniform in [0, ``max_anxiety``], of which
    the shutter integrates a fraction uniform in ``exposure``. ``kind="linear"``: straight
    motion of ``length`` px at an angle uniform in ``angle`` degrees (0 = horizontal).
    The PSF fits a ``kernel_size`` x ``kernel_size`` square (odd). The blurred image gets
    N(0, ``noise_sigma``²) noise (0–255 scale), is clamped and rounded like a stored PNG.
    ``margin`` (the kernel radius) tells the datasets to blur a larger region and keep its
    interior. Every draw comes from ``generator``. Ranges may be given as one number (fixed)
    or a [min, max] list (Hydra passes lists); they are stored as (min, max) tuples.
    """

    kernel_size: int = 17
    kind: str = "shake"
    length: Range = (10.0, 40.0)
    exposure: Range = (0.5, 1.0)
    max_anxiety: float = 0.1
    angle: Range = (0.0, 180.0)
    samples: int = DEFAULT_SAMPLES
    noise_sigma: float = 0.0
    clip: bool = True
    round: bool = True

    def __post_init__(self) -> None:
        size = self.kernel_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 3 or size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd integer >= 3; got {size!r}")
        if self.kind not in MOTION_KINDS:
            raise ValueError(f"motion blur kind must be one of {MOTION_KINDS}; got {self.kind!r}")
        length_cap = 1e4 if self.kind == "shake" else max_extent(size)
        object.__setattr__(self, "length", _range(self.length, "length (px)", 0.0, length_cap))
        object.__setattr__(self, "exposure", _range(self.exposure, "exposure", 1e-6, 1.0))
        object.__setattr__(self, "angle", _range(self.angle, "angle (degrees)", -360.0, 360.0))
        if not isinstance(self.max_anxiety, (int, float)) or not self.max_anxiety >= 0:
            raise ValueError(f"max_anxiety must be a number >= 0; got {self.max_anxiety!r}")
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 2:
            raise ValueError(f"samples must be an integer >= 2; got {self.samples!r}")
        if not isinstance(self.noise_sigma, (int, float)) or not self.noise_sigma >= 0:
            raise ValueError(f"noise_sigma must be >= 0 (0–255 scale); got {self.noise_sigma!r}")
        object.__setattr__(self, "max_anxiety", float(self.max_anxiety))
        object.__setattr__(self, "noise_sigma", float(self.noise_sigma))

    @property
    def scale(self) -> int:
        return 1

    @property
    def margin(self) -> int:
        return self.kernel_size // 2

    def kernel(self, generator: torch.Generator) -> np.ndarray:
        """The next random PSF from ``generator``: float64 ``[k, k]``, non-negative, sum 1."""
        rng = rng_from(generator)
        length = _uniform(rng, self.length)
        if self.kind == "linear":
            return line_psf(self.kernel_size, length, _uniform(rng, self.angle))
        return shake_psf(
            rng,
            size=self.kernel_size,
            length=length,
            exposure=_uniform(rng, self.exposure),
            max_anxiety=self.max_anxiety,
            samples=self.samples,
        )

    def __call__(self, gt: Tensor, generator: torch.Generator | None = None) -> Tensor:
        _check_image(gt, (1, 3), "MotionBlur")
        if not isinstance(generator, torch.Generator):
            raise TypeError(
                "MotionBlur needs a torch.Generator (evaluation: "
                "data.seeding.eval_generator(name, degradation))"
            )
        blurred = apply_psf(gt, self.kernel(generator))
        return _finish(blurred, generator, self.noise_sigma, self.clip, self.round).to(gt.dtype)

    def describe(self) -> dict[str, object]:
        described: dict[str, object] = {
            "name": "motion_blur",
            "kind": self.kind,
            "kernel_size": self.kernel_size,
            "length": list(self.length),
        }
        if self.kind == "shake":
            described |= {
                "exposure": list(self.exposure),
                "max_anxiety": self.max_anxiety,
                "samples": self.samples,
            }
        else:
            described["angle"] = list(self.angle)
        return described | {"noise_sigma": self.noise_sigma, "clip": self.clip, "round": self.round}


@dataclass(frozen=True)
class Rain:
    """Synthetic rain streaks (``data.rain``) added to the image, clamped and rounded.

    Per image: drop density uniform in ``density`` (probability per pixel), streak length
    uniform in ``length`` px, direction uniform in ``angle`` degrees from the vertical,
    streak brightness uniform in ``brightness`` (0–255 scale). Every draw comes from
    ``generator``; the result is clamped to [0, 255] and rounded like a stored PNG. Ranges
    may be one number (fixed) or [min, max]; they are stored as (min, max) tuples.
    """

    density: Range = (0.002, 0.01)
    length: Range = (8.0, 20.0)
    angle: Range = (-20.0, 20.0)
    brightness: Range = (80.0, 200.0)
    round: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "density", _range(self.density, "density", 0.0, 1.0))
        object.__setattr__(self, "length", _range(self.length, "length (px)", 1.0, 1e3))
        object.__setattr__(self, "angle", _range(self.angle, "angle (degrees)", -90.0, 90.0))
        object.__setattr__(
            self, "brightness", _range(self.brightness, "brightness (0–255)", 0.0, 255.0)
        )

    @property
    def scale(self) -> int:
        return 1

    def layer(self, generator: torch.Generator, height: int, width: int) -> Tensor:
        """The next random rain streaks from ``generator``: float64 ``[1, H, W]``, 0–255 scale
        (the layer in [0, 1] times the drawn brightness)."""
        rng = rng_from(generator)
        density = _uniform(rng, self.density)
        length = _uniform(rng, self.length)
        angle = _uniform(rng, self.angle)
        brightness = _uniform(rng, self.brightness)
        streaks = rain_layer(rng, height, width, density=density, length=length, angle=angle)
        return streaks * brightness

    def __call__(self, gt: Tensor, generator: torch.Generator | None = None) -> Tensor:
        _check_image(gt, (1, 3), "Rain")
        if not isinstance(generator, torch.Generator):
            raise TypeError(
                "Rain needs a torch.Generator (evaluation: "
                "data.seeding.eval_generator(name, degradation))"
            )
        streaks = self.layer(generator, gt.shape[1], gt.shape[2])
        lq = composite_rain(gt, streaks, 1.0)
        return _finish(lq, generator, 0.0, True, self.round).to(gt.dtype)

    def describe(self) -> dict[str, object]:
        return {
            "name": "rain",
            "density": list(self.density),
            "length": list(self.length),
            "angle": list(self.angle),
            "brightness": list(self.brightness),
            "round": self.round,
        }
