"""×8 self-ensemble: group structure, the authors' variant order, equivariant maps."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from panet.imaging.dihedral import dihedral_variant, undo_dihedral_variant
from panet.inference.chop import chop
from panet.inference.ensemble import self_ensemble
from panet.inference.tiles import tiles


def symmetric_blur(x: Tensor) -> Tensor:
    """Depthwise conv with a kernel invariant under flips and transposes: an equivariant map."""
    k = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    weight = k.expand(x.shape[1], 1, 3, 3)
    return F.conv2d(x, weight, padding=1, groups=x.shape[1])


def test_variants_are_the_eight_distinct_symmetries_and_undo() -> None:
    x = torch.rand(1, 2, 5, 5)
    variants = [dihedral_variant(x, i) for i in range(8)]
    for i in range(8):
        assert torch.equal(undo_dihedral_variant(variants[i], i), x)
        for j in range(i):
            assert not torch.equal(variants[i], variants[j])


def test_variant_order_is_the_authors() -> None:
    # Authors: start from [x], then extend by width flip ('v'), height flip ('h'), transpose.
    x = torch.rand(1, 1, 3, 4)
    listed = [x]
    for op in (
        lambda t: t.flip(-1),
        lambda t: t.flip(-2),
        lambda t: t.transpose(-2, -1),
    ):
        listed = listed + [op(t) for t in listed]
    seen: list[Tensor] = []

    def recording(t: Tensor) -> Tensor:
        seen.append(t)
        return t

    self_ensemble(recording, x)
    assert len(seen) == 8
    for got, expected in zip(seen, listed, strict=True):
        assert torch.equal(got, expected)
        assert got.is_contiguous()


def test_self_ensemble_of_identity_and_equivariant_map() -> None:
    x = torch.rand(2, 3, 7, 10)
    torch.testing.assert_close(self_ensemble(lambda t: t, x), x, rtol=0, atol=1e-6)
    torch.testing.assert_close(
        self_ensemble(symmetric_blur, x), symmetric_blur(x), rtol=0, atol=1e-6
    )


def test_self_ensemble_averages_a_non_equivariant_map() -> None:
    # Shifting right by one pixel (zero fill) is not equivariant; the ensemble averages the
    # 8 inverse-mapped results, i.e. a shift in each of the 4 directions, twice each.
    def shift_right(t: Tensor) -> Tensor:
        return F.pad(t, (1, 0))[..., :-1]

    x = torch.rand(1, 1, 6, 6)
    expected = (
        F.pad(x, (1, 0))[..., :-1]
        + F.pad(x, (0, 1))[..., 1:]
        + F.pad(x, (0, 0, 1, 0))[..., :-1, :]
        + F.pad(x, (0, 0, 0, 1))[..., 1:, :]
    ) / 4
    torch.testing.assert_close(self_ensemble(shift_right, x), expected)


def test_self_ensemble_per_image_and_upscaling() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2)).eval()
    x = torch.rand(2, 3, 6, 9)
    with torch.no_grad():
        both = self_ensemble(net, x)
        first = self_ensemble(net, x[:1])
    assert both.shape == (2, 3, 12, 18)
    torch.testing.assert_close(both[:1], first, rtol=1e-5, atol=1e-6)


def test_self_ensemble_composes_with_tilers() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 3, 3, padding=1))
    net = net.eval()
    x = torch.rand(1, 3, 41, 30)
    with torch.no_grad():
        plain = self_ensemble(net, x)
        chopped = self_ensemble(functools.partial(chop, net, min_size=600), x)
        tiled = self_ensemble(functools.partial(tiles, net, tile=16, overlap=8), x)
    torch.testing.assert_close(chopped, plain, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(tiled, plain, rtol=1e-5, atol=1e-5)
