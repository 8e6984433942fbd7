"""MixUp: what it computes, that it starts at its step, and that it reaches training_step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from callbacks.mixup import MixUp, mix_pairs
from tests.panet.training.test_module import make_module, quiet_trainer, tiny_datamodule


def test_mix_pairs_mixes_both_images_with_the_same_weight_and_partner() -> None:
    lq, gt = torch.rand(4, 3, 5, 5), torch.rand(4, 3, 5, 5)
    lam, partner = torch.tensor([0.0, 1.0, 0.3, 0.5]), torch.tensor([1, 0, 3, 2])
    mixed_lq, mixed_gt = mix_pairs(lq, gt, lam, partner)
    torch.testing.assert_close(mixed_lq[0], lq[1])  # lam 0: the partner
    torch.testing.assert_close(mixed_gt[1], gt[1])  # lam 1: itself
    torch.testing.assert_close(mixed_lq[2], 0.3 * lq[2] + 0.7 * lq[3])
    torch.testing.assert_close(mixed_gt[2], 0.3 * gt[2] + 0.7 * gt[3])


def test_draws_are_a_function_of_seed_step_and_rank() -> None:
    mixup = MixUp(alpha=0.6, seed=1)
    lam, partner = mixup.draw(16, step=7, rank=0)
    again = mixup.draw(16, step=7, rank=0)
    assert torch.equal(lam, again[0]) and torch.equal(partner, again[1])
    assert not torch.equal(lam, mixup.draw(16, step=8, rank=0)[0])
    assert not torch.equal(lam, mixup.draw(16, step=7, rank=1)[0])
    assert ((lam > 0) & (lam < 1)).all() and sorted(partner.tolist()) == list(range(16))


class _Seen(torch.nn.Module):
    """Identity network that records the training inputs it gets."""

    arch, arch_args, pixel_range, scale = "seen", {}, 255.0, 1

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(()))
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.inputs.append(x.detach().clone())
        return x * self.weight


def test_batches_are_mixed_from_the_start_step_on(tmp_path: Path) -> None:
    plain, mixed = _Seen(), _Seen()
    for net, callbacks in ((plain, []), (mixed, [MixUp(start_step=2)])):
        torch.manual_seed(0)
        trainer = quiet_trainer(tmp_path, max_steps=4, limit_val_batches=0, callbacks=callbacks)
        trainer.fit(make_module(net), datamodule=tiny_datamodule())
    assert all(torch.equal(a, b) for a, b in zip(plain.inputs[:2], mixed.inputs[:2], strict=True))
    assert not any(
        torch.equal(a, b) for a, b in zip(plain.inputs[2:], mixed.inputs[2:], strict=True)
    )


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="alpha > 0"):
        MixUp(alpha=0.0)
