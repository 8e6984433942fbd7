"""Official checkpoint import (authors' key layout) and our own save/load format."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from panet.checkpoints import (
    CheckpointError,
    infer_arch_args,
    load_network,
    load_official,
    save_network,
)
from panet.models.edsr import PAEDSR
from panet.models.panet import PANet

PANET_ARGS = {"n_feats": 16, "n_resblocks": 4, "attention_impl": "faithful"}
PA_EDSR_ARGS = {"scale": 2, "n_feats": 32, "n_resblocks": 2, "res_scale": 1.0}
PA_EDSR_ARGS |= {"attention_impl": "faithful"}


def _randomized(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.05)
    return net.eval()


def authors_layout(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Our state dict rewritten the way the authors' models store theirs."""
    state = {k: v.clone() for k, v in net.state_dict().items()}
    if net.arch == "panet":  # unused 3-channel MeanShift layers are saved by the authors
        mean = torch.tensor((0.4488, 0.4371, 0.4040))
        for name, sign in (("sub_mean", -1), ("add_mean", 1)):
            state[f"{name}.weight"] = torch.eye(3).view(3, 3, 1, 1)
            state[f"{name}.bias"] = sign * mean
    if net.arch == "pa_edsr":  # the attention is registered twice: self.msa and body.{R/2}
        middle = f"body.{net.arch_args['n_resblocks'] // 2}."
        for key in [k for k in state if k.startswith(middle)]:
            state["msa." + key.removeprefix(middle)] = state[key]
    return state


def from_authors_layout(state: dict[str, torch.Tensor], arch: str) -> dict[str, torch.Tensor]:
    """The inverse mapping, stated independently of the loader."""
    dropped = ("msa.", "sub_mean.", "add_mean.") if arch == "panet" else ("msa.",)
    return {k: v for k, v in state.items() if not k.startswith(dropped)}


@pytest.fixture
def panet_file(tmp_path: Path) -> tuple[PANet, Path]:
    net = _randomized(PANet(**PANET_ARGS))
    path = tmp_path / "panet.pt"
    torch.save(authors_layout(net), path)
    return net, path


@pytest.fixture
def pa_edsr_file(tmp_path: Path) -> tuple[PAEDSR, Path]:
    net = _randomized(PAEDSR(**PA_EDSR_ARGS), seed=1)
    path = tmp_path / "pa_edsr.pt"
    torch.save(authors_layout(net), path)
    return net, path


def test_authors_layout_round_trip_panet(panet_file):
    net, path = panet_file
    state = torch.load(path, weights_only=True)
    assert "sub_mean.weight" in state
    assert from_authors_layout(state, "panet").keys() == net.state_dict().keys()
    loaded = load_official(path, "panet", **PANET_ARGS)
    assert not loaded.training
    x = torch.rand(2, 3, 7, 9)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), rtol=0, atol=0)


def test_authors_layout_round_trip_pa_edsr(pa_edsr_file):
    net, path = pa_edsr_file
    state = torch.load(path, weights_only=True)
    assert any(k.startswith("msa.") for k in state)
    assert from_authors_layout(state, "pa_edsr").keys() == net.state_dict().keys()
    loaded = load_official(path, "pa_edsr", **PA_EDSR_ARGS)
    x = torch.rand(1, 3, 7, 9) * 255
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), rtol=0, atol=0)


@pytest.mark.parametrize("wrapper", ["state_dict", "model"])
def test_nested_and_data_parallel_files_load(tmp_path, panet_file, wrapper):
    net, path = panet_file
    state = {"module." + k: v for k, v in torch.load(path, weights_only=True).items()}
    nested = tmp_path / "nested.pt"
    torch.save({wrapper: state, "epoch": 3}, nested)
    loaded = load_official(nested, "panet", **PANET_ARGS)
    x = torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), rtol=0, atol=0)


def _save(state, path: Path) -> Path:
    torch.save(state, path)
    return path


def test_missing_key_is_listed(tmp_path, panet_file):
    _, path = panet_file
    state = torch.load(path, weights_only=True)
    del state["body.2.conv_match.0.bias"]
    with pytest.raises(CheckpointError, match=r"missing keys \[body\.2\.conv_match\.0\.bias\]"):
        load_official(_save(state, tmp_path / "bad.pt"), "panet", **PANET_ARGS)


def test_extra_key_is_listed(tmp_path, panet_file):
    _, path = panet_file
    state = torch.load(path, weights_only=True) | {"tail.1.weight": torch.zeros(3)}
    with pytest.raises(CheckpointError, match=r"unexpected keys \[tail\.1\.weight\]"):
        load_official(_save(state, tmp_path / "bad.pt"), "panet", **PANET_ARGS)


def test_wrong_shape_is_listed_with_fitting_arguments(panet_file):
    _, path = panet_file
    with pytest.raises(CheckpointError) as info:
        load_official(path, "panet", **{**PANET_ARGS, "n_feats": 8, "n_resblocks": 6})
    message = str(info.value)
    assert "wrongly shaped tensors" in message and "body.0.body.0.weight: file" in message
    assert "n_feats=16" in message and "n_resblocks=4" in message
    assert "missing keys" in message  # body.5.* .. body.7.* of the larger network


def test_wrong_colour_count_suggests_n_colors(panet_file):
    _, path = panet_file
    with pytest.raises(CheckpointError, match="n_colors=3"):
        load_official(path, "panet", **{**PANET_ARGS, "n_colors": 1})


def test_wrong_scale_suggests_scale(pa_edsr_file):
    _, path = pa_edsr_file
    with pytest.raises(CheckpointError, match="scale=2"):
        load_official(path, "pa_edsr", **{**PA_EDSR_ARGS, "scale": 4})


@pytest.mark.parametrize(
    ("fixture", "key", "arch", "match"),
    [
        # PA-EDSR registers its attention twice (msa.* and body.{R/2}.*): copies must be equal
        ("pa_edsr_file", "msa.conv_match.0.weight", "pa_edsr", "msa.conv_match.0.weight"),
        # PANet's blocks share one PReLU: every alias in the file must hold the same value
        ("panet_file", "body.0.body.1.weight", "panet", "shared"),
    ],
    ids=["pa_edsr-duplicated-attention", "panet-shared-prelu"],
)
def test_tensors_that_must_be_equal_in_the_file_are_checked(
    tmp_path, request, fixture, key, arch, match
):
    _, path = request.getfixturevalue(fixture)
    state = torch.load(path, weights_only=True)
    state[key] = state[key] + 1
    args = PA_EDSR_ARGS if arch == "pa_edsr" else PANET_ARGS
    with pytest.raises(CheckpointError, match=match):
        load_official(_save(state, tmp_path / "bad.pt"), arch, **args)


def test_truncated_file_is_a_clear_error(tmp_path, panet_file):
    _, path = panet_file
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_official(truncated, "panet", **PANET_ARGS)


def test_missing_file_and_code_carrying_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_official(tmp_path / "nope.pt", "panet", **PANET_ARGS)
    pickled = tmp_path / "object.pt"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "args": Path("x")}, pickled)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_official(pickled, "panet", **PANET_ARGS)


def test_infer_arch_args_reads_shapes():
    state = authors_layout(PAEDSR(**{**PA_EDSR_ARGS, "scale": 3}))
    found = infer_arch_args(state)
    assert found == {
        "n_feats": 32,
        "n_colors": 3,
        "n_resblocks": 2,
        "positions": ("mid",),
        "reduction": 8,
        "scale": 3,
        "arch": "pa_edsr",
    }


def test_save_and_load_network_round_trip(tmp_path):
    net = _randomized(PANet(**{**PANET_ARGS, "positions": ("pre", "post"), "levels": 2}))
    path = save_network(net, tmp_path / "runs" / "net.pt")
    assert [p.name for p in path.parent.iterdir()] == ["net.pt"]  # no temporary left over
    loaded = load_network(path)
    assert loaded.arch_args == net.arch_args and not loaded.training
    x = torch.rand(1, 3, 6, 7)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), rtol=0, atol=0)


def test_load_network_rejects_official_files(panet_file):
    _, path = panet_file
    with pytest.raises(CheckpointError, match="load_official"):
        load_network(path)
