"""Per-task scoring protocols: which channels, which border shave, which SSIM.

One ``Protocol`` object is shared by the evaluation loop and the LightningModule so that a
number is always computed the same way. The rules (``shared/docs/protocols.md``):

* the prediction is clamped to [0, 255] and rounded half away from zero
  (``panet.imaging.quantize``: the authors saved uint8 PNGs from MATLAB-style rounding and
  scored those) before anything else;
* ``channels="y"``: RGB images are converted to MATLAB's BT.601 Y in float64 (not rounded);
  ``channels="y_uint8"``: Y as MATLAB's ``rgb2ycbcr`` returns it for uint8 images, rounded to
  uint8 (the deraining script scores that); ``channels="rgb"``: RGB is scored as is;
* single-channel ground truths (grey images) are scored on their single channel with no colour
  conversion, whatever ``channels`` says. A 3-channel prediction for a 1-channel ground truth
  (a colour network fed a grey image replicated to RGB) is reduced to the mean of its three
  channels, which returns the grey value exactly when the channels agree; we deliberately do
  not use Y there, because Y of (g, g, g) is 16 + 219/255·g, not g;
* ``shave`` pixels are removed from every border (the SR convention: shave = scale).

Standard protocols: denoising / demosaicing ``Protocol("rgb", 0)``; JPEG CAR
``Protocol("y", 0)`` (``ssim_window="box8"`` for the older "JPEG" columns); SR ×s
``Protocol("y", s)``; MPRNet's GoPro / HIDE (``evaluate_GOPRO_HIDE.m``) and SIDD
(``evaluate_SIDD.m``) ``Protocol("rgb", 0, "matlab")``: MATLAB ``psnr``/``ssim`` of the RGB
images, the SSIM over the H×W×3 volume; its rain sets (``evaluate_PSNR_SSIM.m``)
``Protocol("y_uint8", 0, "gaussian")``: Wang's SSIM and PSNR on the uint8 Y channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor

from panet.evaluation.metrics import SSIM_WINDOWS, SSIMWindow, psnr, ssim, ssim_window_1d
from panet.imaging.color import rgb_to_y, rgb_to_y_uint8
from panet.imaging.quantize import quantize_uint8

Channels = Literal["rgb", "y", "y_uint8"]
CHANNEL_MODES: tuple[str, ...] = ("rgb", "y", "y_uint8")


@dataclass(frozen=True)
class Protocol:
    """How one task's images are scored.

    Args:
        channels: "rgb" to score RGB channels, "y" to score MATLAB Y of RGB images (float),
            "y_uint8" to score it rounded to uint8 (``rgb2ycbcr`` of a uint8 image).
        shave: pixels removed from every border before scoring (>= 0).
        ssim_window: "gaussian" (11×11, σ 1.5), "box8" (8×8 uniform) or "matlab" (MATLAB's
            ``ssim``: replicate padding, 3-D over RGB; ``panet.evaluation.metrics``).
    """

    channels: Channels = "rgb"
    shave: int = 0
    ssim_window: SSIMWindow = "gaussian"

    def __post_init__(self) -> None:
        if self.channels not in CHANNEL_MODES:
            raise ValueError(f"channels must be one of {CHANNEL_MODES}; got {self.channels!r}")
        if isinstance(self.shave, bool) or not isinstance(self.shave, int) or self.shave < 0:
            raise ValueError(f"shave must be an integer >= 0; got {self.shave!r}")
        if self.ssim_window not in SSIM_WINDOWS:
            raise ValueError(f"ssim_window must be one of {SSIM_WINDOWS}; got {self.ssim_window!r}")

    def prepare(self, pred: Tensor, gt: Tensor) -> tuple[Tensor, Tensor]:
        """The float64 ``[c, h, w]`` pair that is actually scored (quantized, converted, shaved).

        Args:
            pred: ``[C, H, W]`` restored image, 0–255 scale (any float values; quantized here).
            gt: ``[C', H, W]`` clean image, integer-valued 0–255; C' is 1 or 3.
        """
        for label, img in (("pred", pred), ("gt", gt)):
            if not isinstance(img, Tensor) or img.dim() != 3 or img.shape[0] not in (1, 3):
                shape = tuple(img.shape) if isinstance(img, Tensor) else type(img).__name__
                raise ValueError(f"{label} must be a [C,H,W] tensor with C in (1, 3); got {shape}")
        if pred.shape[-2:] != gt.shape[-2:]:
            raise ValueError(
                f"pred {tuple(pred.shape)} and gt {tuple(gt.shape)} differ in size; for SR "
                "crop the ground truth to a multiple of the scale"
            )
        p = quantize_uint8(pred)
        g = gt.double()
        if g.shape[0] == 1 and p.shape[0] == 3:
            p = p.mean(dim=0, keepdim=True)
        elif g.shape[0] == 3 and p.shape[0] == 1:
            raise ValueError("a 1-channel prediction cannot be scored against an RGB ground truth")
        if self.channels == "y" and g.shape[0] == 3:
            p, g = rgb_to_y(p), rgb_to_y(g)
        elif self.channels == "y_uint8" and g.shape[0] == 3:
            p, g = rgb_to_y_uint8(p).double(), rgb_to_y_uint8(g).double()
        s = self.shave
        if s:
            height, width = g.shape[-2:]
            if height <= 2 * s or width <= 2 * s:
                raise ValueError(f"image {height}x{width} is too small to shave {s} pixels")
            p, g = p[:, s:-s, s:-s], g[:, s:-s, s:-s]
        return p, g

    @property
    def min_side(self) -> int:
        """The smallest image side (rows and columns, before shaving) this protocol scores:
        twice the shave plus the SSIM window (MATLAB's ``ssim`` pads, so 1 there)."""
        window = 1 if self.ssim_window == "matlab" else len(ssim_window_1d(self.ssim_window))
        return 2 * self.shave + window

    def score(self, pred: Tensor, gt: Tensor) -> dict[str, float]:
        """PSNR (dB) and SSIM of one image under this protocol: ``{"psnr": .., "ssim": ..}``."""
        p, g = self.prepare(pred, gt)
        return {"psnr": psnr(p, g), "ssim": ssim(p, g, self.ssim_window)}

    def describe(self) -> dict[str, object]:
        """Plain description for results files (metrics.json meta)."""
        return {
            "channels": self.channels,
            "shave": self.shave,
            "ssim_window": self.ssim_window,
            "quantized": "clamp [0,255] + round half away from zero",
        }


__all__ = ["CHANNEL_MODES", "Channels", "Protocol"]
