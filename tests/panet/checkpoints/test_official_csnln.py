"""The authors' CSNLN files: their key list (written out here from their model's layout), strict
loading with weights_only, and the errors of files that do not fit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from panet.checkpoints import CheckpointError, infer_arch_args, load_official
from panet.models.csnln import CSNLN

BLOCK = ("0.weight", "0.bias", "1.weight")  # conv (or deconv) + PReLU


def authors_keys(scale: int) -> set[str]:
    """Every key of the authors' CSNLN state dict at ``scale``."""
    keys = {f"{m}.{p}" for m in ("sub_mean", "add_mean", "tail.0") for p in ("weight", "bias")}
    keys |= {f"head.{i}.{leaf}" for i in (0, 1) for leaf in BLOCK}
    projections = ["multi_source_projection"] + (["multi_source_projection_2"] * (scale == 4))
    for projection in projections:
        p = f"SEM.{projection}."
        keys.add(p + "up_attention.escape_NaN")
        for branch, names in (
            ("up_attention", ("conv_match_1", "conv_match_2", "conv_assembly")),
            ("down_attention", ("conv_match1", "conv_match2", "conv_assembly")),
        ):
            keys |= {f"{p}{branch}.{n}.{leaf}" for n in names for leaf in BLOCK}
        keys |= {f"{p}upsample.{leaf}" for leaf in BLOCK}
        encoder = ("0.weight", "0.bias", "1.weight", "2.weight", "2.bias")
        keys |= {f"{p}encoder.body.{leaf}" for leaf in encoder}
    blocks = ["down_sample_1", "error_encode", "post_conv"]
    blocks += (
        ["down_sample_3", "down_sample_4", "error_encode_2"] if scale == 4 else ["down_sample_2"]
    )
    keys |= {f"SEM.{b}.{leaf}" for b in blocks for leaf in BLOCK}
    return keys


def _authors_file(tmp_path: Path, scale: int, **args) -> tuple[CSNLN, Path]:
    net = CSNLN(scale=scale, attention_impl="faithful", **args)
    gen = torch.Generator().manual_seed(scale)
    with torch.no_grad():
        for p in net.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=gen) * 0.01)
    path = tmp_path / f"csnln_x{scale}.pt"
    torch.save({k: v.clone() for k, v in net.state_dict().items()}, path)
    return net.eval(), path


@pytest.mark.parametrize(("scale", "count"), [(2, 51), (3, 51), (4, 84)])
def test_our_keys_are_the_authors(scale: int, count: int):
    with torch.device("meta"):
        state = CSNLN(scale=scale).state_dict()
    assert set(state) == authors_keys(scale) and len(state) == count
    # deconvolution weights are stored [in, out, k, k]; the tail reads 12 x 128 channels
    assert state["SEM.error_encode.0.weight"].shape[:2] == (128, 128)
    assert state["tail.0.weight"].shape == (3, 1536, 3, 3)


@pytest.mark.parametrize("scale", [2, 4])
def test_full_size_file_loads_strictly(tmp_path: Path, scale: int):
    net, path = _authors_file(tmp_path, scale)
    loaded = load_official(path, "csnln", scale=scale, depth=12)
    assert loaded.arch_args["depth"] == 12 and not loaded.training
    for (k, v), w in zip(net.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(v, w), k


def test_small_file_computes_the_same_and_nested_files_load(tmp_path: Path):
    net, path = _authors_file(tmp_path, 3, n_feats=8, depth=2)
    nested = tmp_path / "nested.pt"
    state = torch.load(path, weights_only=True)
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}}, nested)
    x = torch.rand(1, 3, 6, 9)
    for file in (path, nested):
        loaded = load_official(file, "csnln", scale=3, depth=2, n_feats=8)
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), net(x), rtol=1e-5, atol=1e-6)


def test_missing_escape_nan_and_extra_keys_are_listed(tmp_path: Path):
    _, path = _authors_file(tmp_path, 2, n_feats=8, depth=2)
    state = torch.load(path, weights_only=True)
    del state["SEM.multi_source_projection.up_attention.escape_NaN"]
    state["SEM.down_sample_3.0.weight"] = torch.zeros(8, 8, 8, 8)
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    with pytest.raises(CheckpointError) as info:
        load_official(bad, "csnln", scale=2, depth=2, n_feats=8)
    message = str(info.value)
    assert "missing keys [SEM.multi_source_projection.up_attention.escape_NaN]" in message
    assert "unexpected keys [SEM.down_sample_3.0.weight]" in message


@pytest.mark.parametrize(
    ("file_args", "load_args", "hint"),
    [
        ({"scale": 2}, {"scale": 4}, "scale=2"),
        ({"scale": 3}, {"scale": 2}, "scale=3"),
        ({"scale": 2, "depth": 3}, {"scale": 2, "depth": 2}, "depth=3"),
    ],
)
def test_wrong_arguments_are_refused_with_the_fitting_ones(tmp_path, file_args, load_args, hint):
    _, path = _authors_file(tmp_path, file_args.pop("scale"), n_feats=8, **{"depth": 2} | file_args)
    with pytest.raises(CheckpointError, match=hint):
        load_official(path, "csnln", n_feats=8, **{"depth": 2} | load_args)


def test_infer_arch_args_reads_a_csnln_file(tmp_path: Path):
    net, _ = _authors_file(tmp_path, 4, n_feats=8, depth=3)
    found = infer_arch_args(net.state_dict())
    assert found == {"arch": "csnln", "n_colors": 3, "n_feats": 8, "scale": 4, "depth": 3}


def test_code_carrying_file_is_refused(tmp_path: Path):
    path = tmp_path / "pickled.pt"
    torch.save({"state_dict": {}, "args": Path("x")}, path)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_official(path, "csnln", scale=2)
