"""The loss group equals the authors' MPRNet losses (re-stated below in plain torch) on random
tensors, and every configs/loss file builds the criterion it names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from panet.losses import CharbonnierLoss, Clamped, EdgeLoss, WeightedSum, loss_over_outputs
from panet.losses.edge import laplacian_residual, smoothing_kernel
from tests.run_helpers import compose_config


def authors_charbonnier(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    return torch.sqrt((x - y) ** 2 + eps**2).mean()


def authors_laplacian(x: torch.Tensor) -> torch.Tensor:
    """Depthwise 5x5 Burt-Adelson smoothing with replicate padding, decimate, zero-insert x4,
    smooth again; the residual."""
    k = torch.tensor([[0.05, 0.25, 0.4, 0.25, 0.05]])
    kernel = (k.t() @ k)[None, None].repeat(x.shape[1], 1, 1, 1)

    def smooth(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(t, (2, 2, 2, 2), mode="replicate"), kernel, groups=x.shape[1])

    first = smooth(x)
    up = torch.zeros_like(first)
    up[:, :, ::2, ::2] = first[:, :, ::2, ::2] * 4
    return x - smooth(up)


def authors_edge(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return authors_charbonnier(authors_laplacian(x), authors_laplacian(y))


def _tensors(shape: tuple[int, ...], n_outputs: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    outputs = [torch.rand(shape, generator=g) * 1.4 - 0.2 for _ in range(n_outputs)]
    return outputs, torch.rand(shape, generator=g)


@pytest.mark.parametrize("shape", [(2, 3, 32, 48), (1, 3, 17, 23)])
def test_each_loss_equals_the_authors(shape: tuple[int, ...]) -> None:
    outputs, target = _tensors(shape)
    pred = outputs[0]
    assert abs(CharbonnierLoss()(pred, target) - authors_charbonnier(pred, target)) <= 1e-6
    assert abs(EdgeLoss()(pred, target) - authors_edge(pred, target)) <= 1e-6
    recipe = WeightedSum([CharbonnierLoss(), EdgeLoss()], [1.0, 0.05])
    expected = sum(authors_charbonnier(o, target) for o in outputs) + 0.05 * sum(
        authors_edge(o, target) for o in outputs
    )
    assert abs(loss_over_outputs(recipe, outputs, target) - expected) <= 1e-6
    clamped = Clamped(CharbonnierLoss(), 0.0, 1.0)
    expected = sum(authors_charbonnier(o.clamp(0, 1), target) for o in outputs)
    assert abs(loss_over_outputs(clamped, outputs, target) - expected) <= 1e-6


def test_edge_loss_ignores_flat_regions() -> None:
    x = torch.rand(1, 3, 16, 16)
    assert float(EdgeLoss()(x, x)) == pytest.approx(1e-3, rel=1e-4)  # sqrt(eps^2) at distance 0
    # Zero insertion x4 keeps a flat image's energy: away from the border, a constant has no
    # Laplacian residual, so the edge loss ignores a brightness offset there.
    flat = torch.full((1, 3, 24, 24), 0.7)
    residual = laplacian_residual(flat, smoothing_kernel())
    assert residual[..., 4:-4, 4:-4].abs().max() < 1e-6
    assert residual.abs().max() > 1e-3  # the zero pattern meets the replicated border


def test_gradients_flow_to_every_output() -> None:
    outputs, target = _tensors((1, 3, 16, 16))
    outputs = [o.requires_grad_() for o in outputs]
    loss_over_outputs(WeightedSum([CharbonnierLoss(), EdgeLoss()], [1.0, 0.05]), outputs, target)
    total = loss_over_outputs(CharbonnierLoss(), outputs, target)
    total.backward()
    assert all(o.grad is not None and o.grad.abs().sum() > 0 for o in outputs)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="one weight per term"):
        WeightedSum([CharbonnierLoss()], [1.0, 0.05])
    with pytest.raises(ValueError, match="eps must be > 0"):
        CharbonnierLoss(0.0)
    with pytest.raises(ValueError, match="empty list"):
        loss_over_outputs(CharbonnierLoss(), [], torch.zeros(1))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("l1", torch.nn.L1Loss),
        ("charbonnier", CharbonnierLoss),
        ("edge", EdgeLoss),
        ("mprnet", WeightedSum),
        ("mprnet_denoise", Clamped),
    ],
)
def test_loss_group_files_build_their_criterion(name: str, expected: type, tmp_path: Path) -> None:
    cfg = compose_config("train", [f"loss={name}"], tmp_path)
    criterion = instantiate(cfg.loss)
    assert isinstance(criterion, expected)
    module = instantiate(cfg.module, net=instantiate(cfg.model, n_feats=8, n_resblocks=2))
    assert isinstance(module.loss, expected)
    outputs, target = _tensors((1, 3, 16, 16), n_outputs=1)
    if name == "mprnet":
        assert criterion.weights == (1.0, 0.05)
        expected_value = authors_charbonnier(outputs[0], target) + 0.05 * authors_edge(
            outputs[0], target
        )
        assert abs(criterion(outputs[0], target) - expected_value) <= 1e-6
