"""RestorationModule with a real Trainer: per-set scores equal the protocol's, the loss is
computed in the network's pixel range, checkpoints hold plain types only."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from data.datamodule import RestorationDataModule
from data.degradations import GaussianNoise
from panet.evaluation.protocols import Protocol
from panet.inference import Inference
from panet.models import PANet
from panet.models.baselines import Identity
from panet.training import RestorationModule


def make_module(net: nn.Module) -> RestorationModule:
    return RestorationModule(
        net=net,
        loss=nn.L1Loss(),
        optimizer=functools.partial(torch.optim.Adam, lr=1e-3),
        scheduler=functools.partial(torch.optim.lr_scheduler.MultiStepLR, milestones=[2]),
        protocol=Protocol("rgb", 0, "gaussian"),
        restore=Inference(mode="full"),
    )


def tiny_datamodule(**kwargs) -> RestorationDataModule:
    options = dict(
        degradation=GaussianNoise(sigma=30),
        patch_size=16,
        batch_size=2,
        samples_per_epoch=4,
        num_workers=0,
        embedded_crop=24,
        test_sets=("embedded",),
    )
    options.update(kwargs)
    return RestorationDataModule(**options)


def quiet_trainer(tmp_path: Path, **kwargs) -> pl.Trainer:
    return pl.Trainer(
        default_root_dir=tmp_path,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


def test_identity_scores_equal_the_protocol_on_every_image(tmp_path: Path) -> None:
    datamodule = tiny_datamodule()
    module = make_module(Identity())
    results = quiet_trainer(tmp_path).validate(module, datamodule=datamodule, verbose=False)[0]
    protocol = Protocol("rgb", 0, "gaussian")
    scores = [protocol.score(b["lq"][0], b["gt"][0]) for b in datamodule.val_dataloader()[0]]
    expected = sum(s["psnr"] for s in scores) / len(scores)
    assert results["val/embedded/n_images"] == len(scores) == 8
    assert results["val/embedded/psnr"] == pytest.approx(expected, abs=1e-4)
    assert results["val/embedded/psnr"] == pytest.approx(results["val/embedded/psnr_input"])
    assert results["val/embedded/ssim"] == pytest.approx(
        sum(s["ssim"] for s in scores) / len(scores), abs=1e-5
    )


def test_training_step_uses_the_networks_pixel_range() -> None:
    class Recorder(Identity):
        pixel_range = 1.0

        def __init__(self) -> None:
            super().__init__()
            self.seen: list[float] = []
            self.weight = nn.Parameter(torch.ones(()))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.seen.append(float(x.max()))
            return x * self.weight

    net = Recorder()
    module = make_module(net)
    batch = {
        "lq": torch.full((1, 3, 4, 4), 255.0),
        "gt": torch.full((1, 3, 4, 4), 0.0),
        "name": ["a"],
    }
    loss = module.training_step(batch, 0)
    assert net.seen == [1.0]  # 255 on the 0-255 scale enters as 1.0
    assert float(loss) == pytest.approx(1.0)  # L1 in the network's [0, 1] range


def test_fit_writes_weights_only_loadable_checkpoints_with_the_architecture(
    tmp_path: Path,
) -> None:
    net = PANet(n_feats=8, n_resblocks=2, levels=2)
    module = make_module(net)
    trainer = quiet_trainer(tmp_path, max_steps=3, limit_val_batches=1, enable_checkpointing=True)
    trainer.fit(module, datamodule=tiny_datamodule())
    path = tmp_path / "final.ckpt"
    trainer.save_checkpoint(path)
    payload = torch.load(path, weights_only=True)
    assert payload["arch"] == "panet"
    assert payload["arch_args"]["n_feats"] == 8 and payload["arch_args"]["levels"] == 2
    assert payload["global_step"] == 3
    assert "rng_states" in payload
    assert payload["lr_schedulers"][0]["last_epoch"] == 3  # stepped every optimizer step


def test_rng_states_round_trip_through_a_weights_only_checkpoint(tmp_path: Path) -> None:
    import random

    import numpy as np

    from panet.training.module import _rng_states, _set_rng_states

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.save({"rng_states": _rng_states(device)}, tmp_path / "rng.ckpt")

    def draw() -> tuple:
        cuda = torch.rand(3, device=device).tolist() if device.type == "cuda" else None
        return random.random(), np.random.rand(), torch.rand(3).tolist(), cuda

    first = draw()
    states = torch.load(tmp_path / "rng.ckpt", weights_only=True)["rng_states"]
    assert ("cuda" in states) == (device.type == "cuda")
    _set_rng_states(states, device)
    assert draw() == first
    # A GPU checkpoint's CUDA state is skipped on a CPU (nothing to restore it onto).
    _set_rng_states({**states, "cuda": torch.zeros(16, dtype=torch.uint8)}, torch.device("cpu"))
    assert draw() == first


class _TwoStage(nn.Module):
    """Returns ``[x * w, x * w + 0.5]``: the final output (the degraded input itself when
    w = 1) and a worse intermediate one, the MPRNet convention (final first)."""

    arch = "two_stage"
    arch_args: dict = {}
    pixel_range = 1.0
    scale = 1

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        final = x * self.weight
        return [final, final + 0.5]


def test_multi_output_networks_train_on_every_output_and_are_scored_on_the_first(
    tmp_path: Path,
) -> None:
    module = make_module(_TwoStage())
    batch = {"lq": torch.full((1, 3, 4, 4), 255.0), "gt": torch.zeros(1, 3, 4, 4), "name": ["a"]}
    assert float(module.training_step(batch, 0)) == pytest.approx(1.0 + 1.5)  # L1 of both
    results = quiet_trainer(tmp_path).validate(module, datamodule=tiny_datamodule(), verbose=False)
    # The first output is the noisy input: its score equals the input's; the second is not.
    assert results[0]["val/embedded/psnr"] == pytest.approx(results[0]["val/embedded/psnr_input"])
