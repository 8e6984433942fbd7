"""A tiny but real LightningModule/DataModule pair for the callback tests.

``TinyNet`` holds a real ``panet.attention.PyramidAttention`` (faithful implementation, 4
channels, 2 levels) so the attention-map callback has something to hook. Images are 3-channel
16x16 float 0–255; the degradation is additive noise from a fixed generator.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from panet.attention import PyramidAttention

SIZE = 16
VAL_SETS = ("toyA", "toyB")


class TinyNet(nn.Module):
    """conv -> pyramid attention -> conv, residual; works in the 0–1 range (pixel_range 1)."""

    pixel_range = 1.0
    scale = 1
    arch = "tiny"

    def __init__(self) -> None:
        super().__init__()
        self.arch_args: dict[str, Any] = {}
        self.head = nn.Conv2d(3, 4, 3, padding=1)
        self.attention = PyramidAttention(channels=4, reduction=2, levels=2, impl="faithful")
        self.tail = nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.tail(self.attention(self.head(x)))


class PairSet(Dataset):
    """``count`` (lq, gt, name) samples; gt is a smooth ramp, lq = gt + noise (0–255)."""

    def __init__(self, count: int, prefix: str, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        ramp = torch.linspace(40, 200, SIZE)
        base = (ramp[None, :, None] + ramp[None, None, :]) / 2
        self.gt = [(base.expand(3, SIZE, SIZE) + 10 * i).clamp(0, 255) for i in range(count)]
        self.lq = [
            (g + 20 * torch.randn(g.shape, generator=generator)).clamp(0, 255) for g in self.gt
        ]
        self.names = [f"{prefix}_{i}.png" for i in range(count)]

    def __len__(self) -> int:
        return len(self.gt)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"lq": self.lq[index], "gt": self.gt[index], "name": self.names[index]}


class TinyData(pl.LightningDataModule):
    """Train loader of ``train_count`` samples (batch 2); one val loader per ``VAL_SETS``."""

    def __init__(self, train_count: int = 8, val_count: int = 3) -> None:
        super().__init__()
        self.train_count = train_count
        self.val_count = val_count
        self.val_set_names = VAL_SETS

    def train_dataloader(self) -> DataLoader:
        return DataLoader(PairSet(self.train_count, "train", 0), batch_size=2, shuffle=True)

    def val_dataloader(self) -> list[DataLoader]:
        return [
            DataLoader(PairSet(self.val_count, name, i + 1), batch_size=1)
            for i, name in enumerate(self.val_set_names)
        ]


class TinyModule(pl.LightningModule):
    """L1 training; ``validation_step`` returns ``{"pred": [B, C, H, W] float 0–255}`` (the
    contract of ``callbacks.image_panels``) and logs ``val/{set}/psnr``."""

    def __init__(self, return_pred: bool = True) -> None:
        super().__init__()
        self.net = TinyNet()
        self.return_pred = return_pred

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        pred = self.net(batch["lq"] / 255)
        loss = (pred - batch["gt"] / 255).abs().mean()
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0):
        pred = (self.net(batch["lq"] / 255) * 255).clamp(0, 255)
        mse = ((pred.round() - batch["gt"]) ** 2).mean().clamp_min(1e-10)
        name = self.trainer.datamodule.val_set_names[dataloader_idx]
        self.log(f"val/{name}/psnr", 10 * torch.log10(255**2 / mse), add_dataloader_idx=False)
        return {"pred": pred} if self.return_pred else None

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.Adam(self.parameters(), lr=1e-3)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def fit_tiny(
    root: Any,
    callbacks: list[pl.Callback],
    logger: Any = False,
    max_steps: int = 2,
    module: pl.LightningModule | None = None,
    sanity_steps: int = 0,
) -> pl.Trainer:
    """Fit ``TinyModule`` for ``max_steps`` (validation every 2 steps) in folder ``root``."""
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=max_steps,
        val_check_interval=2,
        logger=logger,
        callbacks=callbacks,
        default_root_dir=root,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=sanity_steps,
        log_every_n_steps=1,
    )
    trainer.fit(module or TinyModule(), datamodule=TinyData(train_count=4))
    return trainer
