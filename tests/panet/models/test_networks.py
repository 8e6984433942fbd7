"""PANet / EDSR / PA-EDSR: layouts, parameter counts, every ablation variant."""

from __future__ import annotations

import pytest
import torch

from panet.attention import PyramidAttention
from panet.models.edsr import EDSR, PAEDSR
from panet.models.panet import PANet
from panet.models.registry import ARCHITECTURES, build_network

SMALL_PANET = {"n_feats": 8, "n_resblocks": 4, "attention_impl": "faithful"}
SMALL_EDSR = {"n_feats": 16, "n_resblocks": 2, "reduction": 4, "attention_impl": "faithful"}


def _trainable(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def _on_meta(cls, **kwargs) -> torch.nn.Module:
    """Build without allocating real weights (only shapes matter for counting)."""
    with torch.device("meta"):
        return cls(**kwargs)


def test_panet_has_the_papers_parameter_count():
    assert _trainable(_on_meta(PANet, attention_impl="faithful")) == 5_957_255


def test_edsr_parameter_counts():
    # EDSR baseline x2 (16x64) has 1,369,859 parameters in the EDSR paper's code.
    baseline = _on_meta(EDSR, scale=2, n_feats=64, n_resblocks=16, res_scale=1.0)
    assert _trainable(baseline) == 1_369_859
    pa_edsr = _on_meta(PAEDSR, scale=2, attention_impl="faithful")
    assert _trainable(pa_edsr) == 40_811_846  # "about 40.8M"
    edsr = _on_meta(EDSR, scale=2)
    attention = sum(p.numel() for p in pa_edsr.body[16].parameters())
    assert _trainable(pa_edsr) - _trainable(edsr) == attention


def test_mean_shift_is_not_trainable():
    net = EDSR(scale=2, **{k: v for k, v in SMALL_EDSR.items() if k != "reduction"})
    names = {n for n, _ in net.named_parameters()}
    assert not any(n.startswith(("sub_mean", "add_mean")) for n in names)
    assert "sub_mean.weight" in net.state_dict() and "add_mean.bias" in net.state_dict()
    torch.testing.assert_close(net.sub_mean.bias, -255 * torch.tensor((0.4488, 0.4371, 0.4040)))


def test_panet_layout_matches_the_authors():
    net = PANet(n_feats=8, n_resblocks=6, attention_impl="faithful")
    assert isinstance(net.body[3], PyramidAttention)
    assert [type(m).__name__ for m in net.body].count("PyramidAttention") == 1
    assert isinstance(net.body[7], torch.nn.Conv2d) and len(net.body) == 8
    keys = net.state_dict()
    assert "body.2.body.1.weight" in keys and "body.4.body.2.bias" in keys
    assert "tail.0.weight" in keys and "head.0.weight" in keys
    # One PReLU slope shared by every residual block, as in the authors' model.
    assert net.body[0].body[1] is net.body[6].body[1]


@pytest.mark.parametrize(
    ("positions", "indices"),
    [
        ((), []),
        (("pre",), [1]),
        (("mid",), [2]),
        (("post",), [4]),
        (("pre", "mid"), [1, 3]),
        (("mid", "pre"), [1, 3]),
        (("pre", "post"), [1, 5]),
        (("mid", "post"), [2, 5]),
        (("pre", "mid", "post"), [1, 3, 6]),
    ],
)
def test_attention_positions(positions, indices):
    net = PANet(**SMALL_PANET, positions=positions)
    found = [i for i, m in enumerate(net.body) if isinstance(m, PyramidAttention)]
    assert found == indices
    assert net(torch.rand(1, 3, 7, 9)).shape == (1, 3, 7, 9)


@pytest.mark.parametrize(
    "variant",
    [
        {"levels": 1},
        {"levels": 2},
        {"levels": 3},
        {"levels": 4},
        {"levels": 5},
        {"scales": (1.0, 0.5)},
        {"patch_size": 1},
        {"levels": 1, "patch_size": 1},  # the classic non-local block
        {"hard": True},
        {"softmax_scale": 1.0, "reduction": 4},
        {"n_colors": 1},
        {"positions": ()},  # plain ResNet baseline
    ],
)
def test_every_ablation_variant_runs(variant):
    args = {**SMALL_PANET, **variant}
    net = PANet(**args)
    n_colors = args.get("n_colors", 3)
    out = net(torch.rand(2, n_colors, 7, 9))
    assert out.shape == (2, n_colors, 7, 9) and torch.isfinite(out).all()
    assert build_network("panet", **net.arch_args).arch_args == net.arch_args


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("cls", [EDSR, PAEDSR])
def test_edsr_family_upscales(cls, scale):
    net = cls(scale=scale, **SMALL_EDSR)
    out = net(torch.rand(1, 3, 7, 9) * 255)
    assert out.shape == (1, 3, 7 * scale, 9 * scale) and torch.isfinite(out).all()
    assert net.scale == scale and net.pixel_range == 255.0
    has_attention = any(isinstance(m, PyramidAttention) for m in net.modules())
    assert has_attention == (cls is PAEDSR)


def test_pa_edsr_attention_uses_the_networks_res_scale():
    net = PAEDSR(scale=2, res_scale=0.1, **SMALL_EDSR)
    assert net.body[1].res_scale == pytest.approx(0.1)
    assert net.body[1].conv_match[0].out_channels == SMALL_EDSR["n_feats"] // 4


def test_network_attributes():
    panet = PANet(**SMALL_PANET)
    assert (panet.arch, panet.pixel_range, panet.scale) == ("panet", 1.0, 1)
    pa_edsr = PAEDSR(scale=3, **SMALL_EDSR)
    assert pa_edsr.arch == "pa_edsr" and pa_edsr.arch_args["positions"] == ("mid",)
    assert set(ARCHITECTURES) >= {"panet", "pa_edsr", "edsr"}


def test_gradients_flow_through_panet():
    net = PANet(**SMALL_PANET, positions=("pre", "post"))
    x = torch.rand(1, 3, 6, 6, requires_grad=True)
    net(x).mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in net.parameters())


def test_bad_arguments_fail_early():
    with pytest.raises(ValueError, match="positions"):
        PANet(**{**SMALL_PANET, "positions": ("middle",)})
    with pytest.raises(ValueError, match="n_colors"):
        EDSR(n_colors=1, n_feats=8, n_resblocks=1)
    with pytest.raises(ValueError, match="scale"):
        EDSR(scale=5, n_feats=8, n_resblocks=1)
    with pytest.raises(ValueError, match="unknown architecture"):
        build_network("resnet9000")
    with pytest.raises(TypeError):
        build_network("panet", n_resblock=4)  # misspelt argument
