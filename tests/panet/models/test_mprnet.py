"""MPRNet: the authors' forward (re-stated in mprnet_reference), parameter counts, key layout,
widths per variant, and any image size through the inference code."""

from __future__ import annotations

import pytest
import torch

from panet.inference import Inference, restore
from panet.models.mprnet import MPRNET_VARIANTS, MPRNet
from panet.models.registry import build_network
from tests.panet.models.mprnet_reference import OFFICIAL_WIDTHS, official_state, reference_forward

SMALL = {"variant": None, "n_feats": 8, "scale_unetfeats": 4, "scale_orsnetfeats": 4}


def _relative_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("variant", sorted(OFFICIAL_WIDTHS))
def test_forward_equals_the_authors_forward(variant: str) -> None:
    state = official_state(*OFFICIAL_WIDTHS[variant], seed=1)
    with torch.device("meta"):  # no random initialisation: the weights come from `state`
        net = MPRNet(variant=variant).eval()
    net.load_state_dict(state, strict=True, assign=True)
    # Odd batch, H != W, the smallest multiples of 8 (full widths are costly on CPU).
    x = torch.rand(3, 3, 8, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = net(x)
    expected = reference_forward(state, x)
    assert len(ours) == 3
    for stage, (a, b) in enumerate(zip(ours, expected, strict=True)):
        assert a.shape == x.shape
        assert _relative_l2(a, b) <= 1e-5, f"output {stage} differs"
    # The stages really differ (the order is not a copy of one output).
    assert _relative_l2(ours[0], ours[2]) > 1e-2


def test_small_network_with_other_depths_equals_the_authors_forward() -> None:
    state = official_state(8, 4, 4, num_cab=3, seed=5)
    net = MPRNet(**SMALL, num_cab=3).eval()
    net.load_state_dict(state, strict=True)
    x = torch.rand(1, 3, 32, 8)
    with torch.no_grad():
        for a, b in zip(net(x), reference_forward(state, x, num_cab=3), strict=True):
            assert _relative_l2(a, b) <= 1e-5


@pytest.mark.parametrize(
    ("variant", "count"),
    [("deblur", 20_127_073), ("derain", 3_637_249), ("denoise", 15_741_025)],
)
def test_parameter_counts_match_the_authors(variant: str, count: int) -> None:
    with torch.device("meta"):
        net = MPRNet(variant=variant)
    assert sum(p.numel() for p in net.parameters()) == count
    assert not any(name.endswith("bias") for name in net.state_dict())


def test_one_prelu_shared_by_every_block_and_the_authors_keys() -> None:
    with torch.device("meta"):
        net = MPRNet(variant="derain")
    state = net.state_dict()
    expected = official_state(*OFFICIAL_WIDTHS["derain"])
    assert set(state) == set(expected) and len(state) == 316
    assert all(state[k].shape == expected[k].shape for k in state)
    prelus = {id(m) for m in net.modules() if isinstance(m, torch.nn.PReLU)}
    assert len(prelus) == 1
    assert sum(k.endswith("body.1.weight") for k in state) == 55


def test_variant_widths_and_errors() -> None:
    assert MPRNET_VARIANTS == OFFICIAL_WIDTHS
    with torch.device("meta"):
        net = MPRNet(variant="denoise", n_feats=80)
    assert net.arch_args["scale_unetfeats"] == 48 and net.arch_args["variant"] == "denoise"
    with pytest.raises(ValueError, match="variant 'deblur' fixes the widths.*n_feats=64"):
        MPRNet(variant="deblur", n_feats=64)
    with pytest.raises(ValueError, match="unknown MPRNet variant 'sr'"):
        MPRNet(variant="sr")
    with pytest.raises(ValueError, match=r"needs \['scale_orsnetfeats'\]"):
        MPRNet(variant=None, n_feats=8, scale_unetfeats=4)


def test_rebuilds_from_its_arch_args() -> None:
    net = MPRNet(**SMALL, num_cab=1)
    twin = build_network(net.arch, **net.arch_args)
    assert twin.state_dict().keys() == net.state_dict().keys()
    assert (net.pixel_range, net.scale, net.input_multiple) == (1.0, 1, 8)


def test_sizes_that_are_not_multiples_of_8_are_refused_with_the_fix() -> None:
    net = MPRNet(**SMALL, num_cab=1)
    with pytest.raises(ValueError, match="multiples of 8; got 20x24.*restore"):
        net(torch.rand(1, 3, 20, 24))


@pytest.mark.parametrize("mode", ["full", "chop", "tiles"])
def test_odd_sizes_round_trip_through_restore(mode: str) -> None:
    torch.manual_seed(0)
    net = MPRNet(**SMALL, num_cab=1).eval()
    lq = torch.rand(1, 3, 37, 29) * 255
    out = restore(net, lq, Inference(mode=mode, min_size=400, shave=4, tile=24, overlap=8))  # type: ignore[arg-type]
    assert out.shape == lq.shape
    if mode == "full":  # pad by reflection to 40 x 32, run, crop, first output
        padded = torch.nn.functional.pad(lq / 255, (0, 3, 0, 3), mode="reflect")
        with torch.no_grad():
            expected = net(padded)[0][..., :37, :29] * 255
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-4)
