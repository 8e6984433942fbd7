"""Scores of one restored image and of its degraded input under a task's protocol.

Training-time validation (``panet.lit_module``) and ``evaluate.py`` both report, per image, the
output's PSNR/SSIM and the degraded input's (the "Noisy"/"JPEG"/"Bicubic" rows of the paper's
tables), so the two numbers always come from the same code.
"""

from __future__ import annotations

from torch import Tensor

from panet.baselines import Bicubic
from panet.protocols import Protocol

#: Per-image numbers averaged over a set (besides the image count).
SCORE_KEYS: tuple[str, ...] = ("psnr", "ssim", "psnr_input", "ssim_input")


class ImageScorer:
    """Scores ``pred`` and the degraded input ``lq`` of one image against ``gt``.

    For super-resolution (``scale > 1``) the LR input is upscaled with MATLAB bicubic, so its
    score is the paper's "Bicubic" row. Evaluation inputs are a pure function of the image name
    and the degradation, so the input's score is computed once per (set, image name) and kept.

    Args:
        protocol: the task's scoring protocol.
        scale: the network's upscaling factor (1 for restoration tasks).
    """

    def __init__(self, protocol: Protocol, scale: int = 1) -> None:
        self.protocol = protocol
        self.input_upscaler = Bicubic(scale) if scale > 1 else None
        self._input_scores: dict[tuple[str, str], dict[str, float]] = {}

    def __call__(
        self, set_name: str, name: str, pred: Tensor, lq: Tensor, gt: Tensor
    ) -> dict[str, float]:
        """``{"psnr", "ssim", "psnr_input", "ssim_input"}`` for one image.

        Args:
            set_name, name: the image's set and name (the key of the kept input score).
            pred: restored image [C, H, W], float 0–255 (quantized by the protocol).
            lq: degraded input [C, H/s, W/s], float 0–255.
            gt: clean target [C, H, W], float 0–255.
        """
        output = self.protocol.score(pred, gt)
        degraded = self._input_score(set_name, name, lq, gt)
        return {
            "psnr": output["psnr"],
            "ssim": output["ssim"],
            "psnr_input": degraded["psnr"],
            "ssim_input": degraded["ssim"],
        }

    def _input_score(self, set_name: str, name: str, lq: Tensor, gt: Tensor) -> dict[str, float]:
        key = (set_name, name)
        if key not in self._input_scores:
            shown = lq if self.input_upscaler is None else self.input_upscaler(lq[None])[0]
            self._input_scores[key] = self.protocol.score(shown, gt)
        return self._input_scores[key]
