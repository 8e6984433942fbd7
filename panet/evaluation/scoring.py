"""Scores of restored images and of their degraded inputs under a task's protocol.

Training-time validation (``panet.training.module``) and ``evaluate.py`` both run every
evaluation batch through ``restore_and_score`` and report, per image, the output's PSNR/SSIM
and the degraded input's (the "Noisy"/"JPEG"/"Bicubic" rows of the paper's tables), so the two
numbers always come from the same code. They differ only in how they average: the
LightningModule in torchmetrics objects reduced across DDP processes, ``evaluate.py`` in a
``SetMeans``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from panet.evaluation.protocols import Protocol
from panet.imaging.resize import imresize_uint8
from panet.stop import check_stop

#: Per-image numbers averaged over a set (besides the image count).
SCORE_KEYS: tuple[str, ...] = ("psnr", "ssim", "psnr_input", "ssim_input")

Restore = Callable[[nn.Module, Tensor], Tensor]


class ImageScorer:
    """Scores ``pred`` and the degraded input ``lq`` of one image against ``gt``.

    For super-resolution (``scale > 1``) the LR input is upscaled with MATLAB bicubic on uint8
    (the "Bicubic" row). Evaluation inputs are a pure function of the image name and the
    degradation, so the input's score is computed once per (set, image name) and kept.

    Args:
        protocol: the task's scoring protocol.
        scale: the network's upscaling factor (1 for restoration tasks).
    """

    def __init__(self, protocol: Protocol, scale: int = 1) -> None:
        self.protocol = protocol
        self.scale = int(scale)
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
            shown = lq if self.scale == 1 else imresize_uint8(lq, float(self.scale))
            self._input_scores[key] = self.protocol.score(shown, gt)
        return self._input_scores[key]


def restore_and_score(
    net: nn.Module,
    restore: Restore,
    scorer: ImageScorer,
    set_name: str,
    batch: Mapping[str, Any],
) -> tuple[Tensor, list[dict[str, float]]]:
    """Restore an evaluation batch and score each of its images.

    Args:
        net: the network, passed to ``restore``.
        restore: ``restore(net, lq) -> pred`` on 0–255 batches (a
            ``panet.inference.Inference``).
        scorer: the task's ``ImageScorer``.
        set_name: the set the batch belongs to.
        batch: ``{"lq": [B, C, h, w], "gt": [B, C, s*h, s*w], "name": list[str]}``, 0–255.

    Returns:
        The restored batch ``[B, C, s*h, s*w]`` (0–255, not quantized) and one score dict per
        image (keys ``SCORE_KEYS``), in batch order.
    """
    check_stop()  # between images (and, inside restore, between network calls)
    lq, gt = batch["lq"], batch["gt"]
    pred = restore(net, lq)
    scores = [scorer(set_name, batch["name"][i], pred[i], lq[i], gt[i]) for i in range(gt.shape[0])]
    return pred, scores


class SetMeans:
    """Running means of the per-image scores of one set (single process)."""

    def __init__(self) -> None:
        self._sums = dict.fromkeys(SCORE_KEYS, 0.0)
        self.count = 0

    def add(self, scores: Sequence[Mapping[str, float]]) -> None:
        """Add the score dicts of some images."""
        for image in scores:
            for key in SCORE_KEYS:
                self._sums[key] += image[key]
            self.count += 1

    def means(self) -> dict[str, float]:
        """``{key: mean}`` for ``SCORE_KEYS`` (NaN for an empty set) plus ``n_images``."""
        result = {k: v / self.count if self.count else float("nan") for k, v in self._sums.items()}
        result["n_images"] = float(self.count)
        return result
