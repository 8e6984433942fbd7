"""restore(): range conversion, modes, grey through a colour net, metadata, checkpoint loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from panet.checkpoints import load_for_evaluation, save_network
from panet.inference import Inference, restore
from panet.models.registry import build_network


class OffsetNet(nn.Module):
    """Adds 0.1 in its own range and multiplies channel k by (1 + k); records what it saw."""

    scale = 1

    def __init__(self, pixel_range: float, n_colors: int = 3) -> None:
        super().__init__()
        self.pixel_range = pixel_range
        self.arch_args = {"n_colors": n_colors}
        self.gain = nn.Parameter(torch.arange(1.0, n_colors + 1).view(1, -1, 1, 1))
        self.seen_max: list[float] = []
        self.seen_training: list[bool] = []

    def forward(self, x: Tensor) -> Tensor:
        self.seen_max.append(x.max().item())
        self.seen_training.append(self.training)
        return x * self.gain + 0.1


class SymmetricLocalNet(nn.Module):
    """Local (radius 1) and flip/transpose-equivariant: every mode must give the same result."""

    scale = 1
    pixel_range = 1.0
    arch_args = {"n_colors": 3}

    def __init__(self) -> None:
        super().__init__()
        k = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
        self.kernel = nn.Parameter(k.expand(3, 1, 3, 3).clone())

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(F.conv2d(x, self.kernel, padding=1, groups=3))


@pytest.mark.parametrize("pixel_range", [1.0, 255.0])
def test_restore_converts_ranges(pixel_range: float) -> None:
    net = OffsetNet(pixel_range)
    lq = torch.full((1, 3, 4, 5), 255.0)
    out = restore(net, lq)
    assert net.seen_max == [pytest.approx(pixel_range)]
    expected = lq * net.gain.detach() + 0.1 * 255 / pixel_range
    torch.testing.assert_close(out, expected)
    assert not out.requires_grad


def test_restore_runs_in_eval_mode_and_restores_training_flag() -> None:
    net = OffsetNet(1.0).train()
    restore(net, torch.rand(1, 3, 4, 4) * 255)
    assert net.seen_training == [False]
    assert net.training


def test_grey_image_through_colour_net_is_averaged_back() -> None:
    net = OffsetNet(255.0)
    lq = torch.rand(2, 1, 6, 7) * 255
    out = restore(net, lq)
    assert out.shape == (2, 1, 6, 7)
    torch.testing.assert_close(out, lq * 2 + 0.1)  # mean of gains 1, 2, 3


def test_colour_image_for_grey_net_is_refused() -> None:
    with pytest.raises(ValueError, match="Y channel"):
        restore(OffsetNet(255.0, n_colors=1), torch.rand(1, 3, 4, 4))


def test_all_modes_agree_for_a_local_equivariant_net() -> None:
    net = SymmetricLocalNet()
    lq = torch.rand(1, 3, 40, 50) * 255
    full = restore(net, lq, Inference(mode="full"))
    for options in (
        dict(mode="chop", min_size=700),  # two levels of quadrants
        dict(mode="tiles", tile=24, overlap=8, batch_size=3),
        dict(mode="full", self_ensemble=True),
        dict(mode="chop", self_ensemble=True),
    ):
        torch.testing.assert_close(Inference(**options)(net, lq), full, rtol=1e-5, atol=1e-4)


def test_describe_inference() -> None:
    assert Inference(mode="chop", self_ensemble=True).describe() == {
        "mode": "chop",
        "self_ensemble": True,
        "shave": 10,
        "min_size": 6800,
        "tile": None,
        "overlap": None,
    }
    tiled = Inference(mode="tiles", tile=64, overlap=8).describe()
    assert (tiled["tile"], tiled["overlap"], tiled["shave"]) == (64, 8, None)
    with pytest.raises(ValueError, match="mode"):
        Inference(mode="quadrants")  # type: ignore[arg-type]


def test_load_for_evaluation_our_format(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = build_network("panet", n_feats=4, n_resblocks=1, levels=2, attention_impl="faithful")
    path = save_network(net, tmp_path / "tiny.pt")
    loaded = load_for_evaluation(path)
    assert not loaded.training
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net.eval()(x))
    with pytest.raises(FileNotFoundError):
        load_for_evaluation(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="arch"):
        load_for_evaluation(path, arch_args={"n_resblocks": 1})


def test_restore_scores_float32_under_autocast() -> None:
    # A mixed-precision trainer validates inside autocast: restore must not inherit it.
    torch.manual_seed(0)
    net = build_network("panet", n_colors=3, n_feats=4, n_resblocks=1, levels=2)
    lq = torch.rand(1, 3, 20, 24) * 255
    plain = restore(net, lq)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = restore(net, lq)
    assert autocast.dtype == torch.float32
    torch.testing.assert_close(autocast, plain, rtol=0, atol=0)
    half = restore(
        build_network("panet", n_colors=3, n_feats=4, n_resblocks=1, levels=2).bfloat16(), lq
    )
    assert half.dtype == torch.float32 and half.shape == lq.shape
