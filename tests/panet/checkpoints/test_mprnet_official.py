"""The authors' MPRNet checkpoints: files written here in their layout (keys and shapes from the
independent re-statement in tests/panet/models/mprnet_reference.py) load strictly and give
their forward; files that do not fit are refused with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from panet.checkpoints import CheckpointError, infer_arch_args, load_for_evaluation, load_official
from panet.checkpoints.official.mprnet import shared_prelu_keys
from tests.panet.models.mprnet_reference import OFFICIAL_WIDTHS, official_state, reference_forward

SMALL_WIDTHS = (8, 4, 4)
SMALL_ARGS = {"variant": None, "n_feats": 8, "scale_unetfeats": 4, "scale_orsnetfeats": 4}


def _optimizer_state() -> dict:
    """A real Adam state dict (tensors, ints, floats, tuples), like the one the authors save."""
    weight = torch.nn.Parameter(torch.ones(3))
    adam = torch.optim.Adam([weight], lr=2e-4)
    weight.sum().backward()
    adam.step()
    return adam.state_dict()


def write_official(path: Path, state: dict[str, torch.Tensor], prefix: str = "") -> Path:
    """An MPRNet checkpoint as the authors' train.py saves it."""
    payload = {
        "epoch": 250,
        "state_dict": {prefix + k: v for k, v in state.items()},
        "optimizer": _optimizer_state(),
    }
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("prefix", ["", "module."])
def test_official_file_loads_and_gives_the_authors_forward(tmp_path: Path, prefix: str) -> None:
    state = official_state(*SMALL_WIDTHS, num_cab=2, seed=3)
    path = write_official(tmp_path / "model_best.pth", state, prefix)
    net = load_official(path, "mprnet", **SMALL_ARGS, num_cab=2)
    assert not net.training
    prelus = [p for n, p in net.named_parameters() if n.endswith("body.1.weight")]
    assert len(prelus) == 1 and torch.equal(prelus[0], state["shallow_feat1.1.body.1.weight"])
    x = torch.rand(3, 3, 16, 24)
    with torch.no_grad():
        ours = net(x)
    for a, b in zip(ours, reference_forward(state, x, num_cab=2), strict=True):
        assert float((a - b).norm() / b.norm()) <= 1e-5


def test_official_variant_loads_by_name(tmp_path: Path) -> None:
    state = official_state(*OFFICIAL_WIDTHS["derain"], seed=4)
    path = write_official(tmp_path / "derain.pth", state)
    net = load_for_evaluation(path, "mprnet", {"variant": "derain"})
    assert net.arch_args["n_feats"] == 40
    assert infer_arch_args(state)["variant"] == "derain"
    assert len(shared_prelu_keys(state)) == 55


def test_file_of_another_variant_names_the_variant_it_fits(tmp_path: Path) -> None:
    path = write_official(tmp_path / "derain.pth", official_state(*OFFICIAL_WIDTHS["derain"]))
    with pytest.raises(
        CheckpointError, match="wrongly shaped.*fits arch='mprnet', variant='derain'"
    ):
        load_official(path, "mprnet", variant="denoise")


def test_differing_copies_of_the_shared_prelu_are_refused(tmp_path: Path) -> None:
    state = official_state(*SMALL_WIDTHS, num_cab=1)  # 3 + 12 + 16 + 3 blocks
    key = "stage2_decoder.skip_attn1.body.1.weight"
    state[key] = state[key] + 0.5
    path = write_official(tmp_path / "bad.pth", state)
    with pytest.raises(CheckpointError, match=f"one PReLU between all 34.*{key}"):
        load_official(path, "mprnet", **SMALL_ARGS, num_cab=1)


def test_missing_and_unexpected_keys_are_refused(tmp_path: Path) -> None:
    state = official_state(*SMALL_WIDTHS, num_cab=1)
    del state["tail.weight"]
    state["tail.bias"] = torch.zeros(3)
    path = write_official(tmp_path / "odd.pth", state)
    with pytest.raises(CheckpointError, match=r"missing keys \[tail.weight\].*unexpected"):
        load_official(path, "mprnet", **SMALL_ARGS, num_cab=1)
