"""How numbers are computed: PSNR/SSIM as the literature's MATLAB scripts define them
(``metrics``), the per-task protocols (``protocols``: channels, shave, SSIM window) and the
per-image scorer and scoring loop shared by validation and ``evaluate.py`` (``scoring``).
"""

from panet.evaluation.metrics import psnr, ssim, ssim_map
from panet.evaluation.protocols import Protocol
from panet.evaluation.scoring import SCORE_KEYS, ImageScorer, SetMeans, restore_and_score

__all__ = [
    "SCORE_KEYS",
    "ImageScorer",
    "Protocol",
    "SetMeans",
    "psnr",
    "restore_and_score",
    "ssim",
    "ssim_map",
]
