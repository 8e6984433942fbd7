"""Scoring protocols: quantization, channels, grey images, shave."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from panet.evaluation.metrics import psnr, ssim
from panet.evaluation.protocols import Protocol
from panet.imaging.color import rgb_to_y
from panet.imaging.quantize import quantize_uint8 as quantize


def _rgb(seed: int = 0, height: int = 20, width: int = 22) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, height, width), generator=gen).float()


def test_prediction_is_clamped_and_rounded_before_scoring() -> None:
    gt = _rgb()
    pred = gt + 0.4
    pred[0, 0, 0], pred[1, 0, 0] = -30.0, 400.0
    score = Protocol("rgb").score(pred, gt)
    expected = quantize(pred)
    assert expected.min() >= 0 and expected.max() <= 255
    assert score["psnr"] == pytest.approx(psnr(expected, gt.double()))
    assert score["ssim"] == pytest.approx(ssim(expected, gt.double()))


def test_y_protocol_scores_float_y_of_rgb() -> None:
    gt, pred = _rgb(0), _rgb(1)
    score = Protocol("y", 0).score(pred, gt)
    y_pred, y_gt = rgb_to_y(pred.double()), rgb_to_y(gt.double())
    assert score["psnr"] == pytest.approx(psnr(y_pred, y_gt), abs=1e-12)
    assert score["psnr"] != pytest.approx(Protocol("rgb").score(pred, gt)["psnr"])


def test_y_uint8_protocol_scores_rgb2ycbcr_of_uint8_images() -> None:
    # MATLAB's rgb2ycbcr returns uint8 for uint8 input: the deraining script scores that.
    gt, pred = _rgb(0), _rgb(1)
    score = Protocol("y_uint8", 0).score(pred, gt)
    y_pred, y_gt = (quantize(rgb_to_y(img.double())) for img in (pred, gt))
    assert torch.equal(y_pred, y_pred.round()) and y_pred.min() >= 16 and y_pred.max() <= 235
    assert score["psnr"] == pytest.approx(psnr(y_pred, y_gt), abs=1e-12)
    assert score["ssim"] == pytest.approx(ssim(y_pred, y_gt, "gaussian"), abs=1e-12)
    assert score["psnr"] != pytest.approx(Protocol("y", 0).score(pred, gt)["psnr"], abs=1e-6)
    # A grey image is still scored on its one channel.
    grey = gt[:1]
    assert Protocol("y_uint8").score(grey, grey)["psnr"] == float("inf")


def test_grey_image_is_scored_on_its_channel_without_conversion() -> None:
    gt, pred = _rgb(0)[:1], _rgb(1)[:1]
    for channels in ("rgb", "y"):
        assert Protocol(channels, 0).score(pred, gt)["psnr"] == pytest.approx(psnr(pred, gt))


def test_rgb_prediction_for_grey_truth_uses_channel_mean() -> None:
    gt = _rgb(0)[:1]
    assert Protocol("y").score(gt.repeat(3, 1, 1), gt)["psnr"] == float("inf")
    pred = torch.cat([gt, gt + 3, gt - 3]).clamp(0, 255)
    prepared, _ = Protocol("y").prepare(pred, gt)
    assert prepared.shape == (1, *gt.shape[1:])
    assert torch.allclose(prepared, pred.double().mean(dim=0, keepdim=True))


def test_grey_prediction_for_rgb_truth_is_an_error() -> None:
    with pytest.raises(ValueError, match="1-channel prediction"):
        Protocol("y").score(_rgb()[:1], _rgb())


def test_shave_removes_borders() -> None:
    gt, pred = _rgb(0), _rgb(1)
    pred_inner = pred.clone()
    pred[:, :2], pred[:, -2:], pred[:, :, :2], pred[:, :, -2:] = 0, 0, 0, 0
    p, g = Protocol("y", 2).prepare(pred, gt)
    assert p.shape == (1, 16, 18)
    assert Protocol("y", 2).score(pred, gt) == Protocol("y", 2).score(pred_inner, gt)


def test_describe_and_frozen() -> None:
    protocol = Protocol("y", 4, "box8")
    assert protocol.describe()["shave"] == 4 and protocol.describe()["ssim_window"] == "box8"
    with pytest.raises(dataclasses.FrozenInstanceError):
        protocol.shave = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [{"channels": "ycbcr"}, {"shave": -1}, {"shave": 1.5}, {"ssim_window": "box7"}],
)
def test_invalid_protocols(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Protocol(**kwargs)


def test_bad_score_inputs() -> None:
    gt = _rgb()
    with pytest.raises(ValueError, match="differ in size"):
        Protocol().score(gt[:, :-1], gt)
    with pytest.raises(ValueError, match=r"\[C,H,W\]"):
        Protocol().score(gt[None], gt)
    with pytest.raises(ValueError, match="too small to shave"):
        Protocol("y", 10).score(gt, gt)
