"""CSNLN: equal to the re-stated official forward, the authors' parameter counts and keys,
batch independence, and any image size through restore() (padding to the up-factor)."""

from __future__ import annotations

import pytest
import torch

from panet.inference import Inference, restore
from panet.models.csnln import CSNLN
from panet.models.registry import build_network
from tests.panet.csnln_reference import reference_csnln

SMALL = {"n_feats": 8, "depth": 2}


def _randomized(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    return net.eval()


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("impl", ["faithful", "fast"])
@pytest.mark.parametrize(("scale", "depth", "size"), [(2, 1, 6), (2, 3, 8), (3, 2, 6), (4, 2, 6)])
def test_forward_equals_the_official(scale: int, depth: int, size: int, impl: str):
    net = _randomized(CSNLN(scale=scale, n_feats=8, depth=depth, attention_impl=impl))
    x = torch.rand(
        2, 3, size, size + net.input_multiple, generator=torch.Generator().manual_seed(1)
    )
    with torch.no_grad():
        out = net(x)
        ref = reference_csnln(x, net.state_dict(), scale, depth)
    assert out.shape == (2, 3, scale * size, scale * (size + net.input_multiple))
    assert rel(out, ref) <= 1e-5


@pytest.mark.parametrize(
    ("scale", "count", "keys"), [(2, 3_061_289, 51), (3, 6_010_409, 51), (4, 6_568_627, 84)]
)
def test_parameter_counts_and_keys_are_the_authors(scale: int, count: int, keys: int):
    with torch.device("meta"):
        net = CSNLN(scale=scale)
    assert sum(p.numel() for p in net.parameters()) == count
    state = net.state_dict()
    assert len(state) == keys
    assert state["tail.0.weight"].shape == (3, 1536, 3, 3)
    assert "SEM.multi_source_projection.up_attention.escape_NaN" in state
    # ConvTranspose2d weights are [in, out, k, k]; x3 uses 9x9 kernels
    k = 9 if scale == 3 else 6
    assert state["SEM.multi_source_projection.upsample.0.weight"].shape == (128, 128, k, k)
    assert ("SEM.down_sample_2.0.weight" in state) == (scale != 4)


def test_one_sem_cell_is_shared_and_mean_shift_is_frozen():
    net = CSNLN(scale=2, **SMALL)
    assert sum(isinstance(m, type(net.SEM)) for m in net.modules()) == 1
    frozen = [n for n, p in net.named_parameters() if not p.requires_grad]
    assert sorted(frozen) == [
        "add_mean.bias",
        "add_mean.weight",
        "sub_mean.bias",
        "sub_mean.weight",
    ]
    torch.testing.assert_close(net.sub_mean.bias, -torch.tensor((0.4488, 0.4371, 0.4040)))


def test_registry_rebuilds_from_arch_args():
    net = CSNLN(scale=3, **SMALL, attention_impl="faithful")
    again = build_network(net.arch, **net.arch_args)
    assert again.arch_args == net.arch_args and again.input_multiple == 3 and again.scale == 3
    assert CSNLN(scale=4, **SMALL).input_multiple == 2


def test_batch_elements_are_independent():
    net = _randomized(CSNLN(scale=2, **SMALL))
    x = torch.rand(3, 3, 8, 6)
    with torch.no_grad():
        whole = net(x)
        alone = torch.cat([net(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(whole, alone, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("scale", [2, 3])
@pytest.mark.parametrize("mode", ["full", "chop"])
def test_any_size_round_trips_through_restore(scale: int, mode: str):
    net = _randomized(CSNLN(scale=scale, **SMALL))
    lq = torch.rand(1, 3, 13, 11, generator=torch.Generator().manual_seed(2)) * 255
    with pytest.raises(ValueError, match="multiple of"):
        net(lq / 255)
    out = restore(net, lq, Inference(mode=mode, min_size=60, shave=2))  # type: ignore[arg-type]
    assert out.shape == (1, 3, 13 * scale, 11 * scale)
    # the padded forward, cropped back, is what restore returns (the bottom/right are padding)
    multiple = net.input_multiple
    padded = torch.nn.functional.pad(lq / 255, (0, -11 % multiple, 0, -13 % multiple), "reflect")
    with torch.no_grad():
        expected = net(padded)[..., : 13 * scale, : 11 * scale] * 255
    if mode == "full":
        torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-3)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="scale=5"):
        CSNLN(scale=5)
    with pytest.raises(ValueError, match="n_colors=3"):
        CSNLN(n_colors=1)
