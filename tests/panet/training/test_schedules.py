"""WarmupCosineLR: the authors' MPRNet schedule (3 warm-up epochs, cosine to 1e-6) in steps."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from panet.training.schedules import WarmupCosineLR
from tests.run_helpers import compose_config

BASE_LR = 2e-4


def _rates(n_steps: int, **kwargs) -> list[float]:
    """The rate each of ``n_steps`` optimizer steps uses."""
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([weight], lr=BASE_LR)
    scheduler = WarmupCosineLR(optimizer, **kwargs)
    rates = []
    for _ in range(n_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("steps_per_epoch", [1, 132])
def test_warm_up_reaches_the_authors_rates_at_the_end_of_each_epoch(steps_per_epoch: int) -> None:
    rates = _rates(4 * steps_per_epoch, warmup_steps=3 * steps_per_epoch, total_steps=3000 * 132)
    ends = [rates[e * steps_per_epoch - 1] for e in (1, 2, 3)]
    assert ends == pytest.approx([6.6667e-5, 1.3333e-4, 2e-4], rel=1e-4)
    assert rates[3 * steps_per_epoch] == pytest.approx(BASE_LR)  # the peak after warm-up
    warm_up = rates[: 3 * steps_per_epoch]
    assert all(a < b for a, b in zip(warm_up, warm_up[1:], strict=False))


def test_per_epoch_rates_follow_the_authors_cosine() -> None:
    # The authors' GradualWarmupScheduler + CosineAnnealingLR(T_max=epochs-3, eta_min=1e-6),
    # stepped once per epoch for GoPro's 3000 epochs, gives these rates (simulated once).
    rates = _rates(3000, warmup_steps=3, total_steps=3000, min_lr=1e-6)
    assert rates[1499] == pytest.approx(1.0076077824830909e-4, rel=2e-4)
    assert rates[2999] == pytest.approx(1.0000546662677463e-6, rel=2e-4)
    assert rates[1500 + 3 - 2] > rates[1500 + 3]  # decreasing


def test_rate_stays_at_the_minimum_after_the_cosine() -> None:
    rates = _rates(12, warmup_steps=2, total_steps=8, min_lr=1e-6)
    assert rates[8:] == pytest.approx([1e-6] * 4)
    assert rates[2] == pytest.approx(BASE_LR)


def test_bad_lengths_are_refused() -> None:
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=BASE_LR)
    with pytest.raises(ValueError, match="warmup_steps < total_steps"):
        WarmupCosineLR(optimizer, warmup_steps=10, total_steps=10)


def test_scheduler_group_builds_both_schedules(tmp_path: Path) -> None:
    net = torch.nn.Linear(1, 1)
    for name, kind in (
        ("multistep", torch.optim.lr_scheduler.MultiStepLR),
        ("warmup_cosine", WarmupCosineLR),
    ):
        cfg = compose_config("train", [f"scheduler={name}"], tmp_path)
        scheduler = instantiate(cfg.scheduler)(torch.optim.Adam(net.parameters(), lr=1e-3))
        assert isinstance(scheduler, kind)
    assert cfg.scheduler.total_steps == cfg.trainer.max_steps
