"""ImageScorer: output and degraded-input scores of one image, input score kept per image."""

from __future__ import annotations

import torch

from panet.evaluation.protocols import Protocol
from panet.evaluation.scoring import SCORE_KEYS, ImageScorer, SetMeans, restore_and_score
from panet.inference import Inference
from panet.models.baselines import Bicubic, Identity


def _image(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, generator=generator).float()


def test_restoration_scores_output_and_input_against_the_target() -> None:
    protocol = Protocol(channels="rgb", shave=0, ssim_window="gaussian")
    gt, lq, pred = _image((3, 16, 16), 0), _image((3, 16, 16), 1), _image((3, 16, 16), 2)
    scores = ImageScorer(protocol)("set", "a", pred, lq, gt)
    assert tuple(scores) == SCORE_KEYS
    assert scores["psnr"] == protocol.score(pred, gt)["psnr"]
    assert scores["ssim_input"] == protocol.score(lq, gt)["ssim"]


def test_sr_input_is_scored_after_bicubic_upscaling() -> None:
    protocol = Protocol(channels="y", shave=2, ssim_window="gaussian")
    gt, lq = _image((3, 24, 24), 3), _image((3, 12, 12), 4)
    scores = ImageScorer(protocol, scale=2)("Set5", "bird", gt, lq, gt)
    expected = protocol.score(Bicubic(2)(lq[None])[0], gt)
    assert (scores["psnr_input"], scores["ssim_input"]) == (expected["psnr"], expected["ssim"])
    assert scores["psnr"] > 90  # pred == gt: PSNR is infinite or huge


def test_input_score_is_computed_once_per_set_and_image() -> None:
    protocol = Protocol(channels="rgb", shave=0, ssim_window="gaussian")
    scorer = ImageScorer(protocol)
    gt, lq, other = _image((3, 16, 16), 5), _image((3, 16, 16), 6), _image((3, 16, 16), 7)
    first = scorer("set", "a", gt, lq, gt)
    # Evaluation inputs are deterministic per name: a second call reuses the kept score...
    assert scorer("set", "a", gt, other, gt)["psnr_input"] == first["psnr_input"]
    # ...while another image (or set) is scored afresh.
    assert scorer("set", "b", gt, other, gt)["psnr_input"] != first["psnr_input"]


def test_restore_and_score_then_set_means() -> None:
    protocol = Protocol(channels="rgb", shave=0, ssim_window="gaussian")
    gt = torch.stack([_image((3, 16, 16), 8), _image((3, 16, 16), 9)])
    lq = torch.stack([_image((3, 16, 16), 10), _image((3, 16, 16), 11)])
    batch = {"lq": lq, "gt": gt, "name": ["a", "b"]}
    scorer = ImageScorer(protocol)
    pred, scores = restore_and_score(Identity(), Inference(), scorer, "set", batch)
    assert torch.equal(pred, lq)  # the identity "restores" to its input
    assert [s["psnr"] for s in scores] == [protocol.score(lq[i], gt[i])["psnr"] for i in (0, 1)]
    assert all(s["psnr"] == s["psnr_input"] for s in scores)
    means = SetMeans()
    means.add(scores)
    result = means.means()
    assert result["n_images"] == 2.0
    assert result["ssim"] == (scores[0]["ssim"] + scores[1]["ssim"]) / 2
    assert SetMeans().means()["n_images"] == 0.0
