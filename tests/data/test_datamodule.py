"""Tests for data.datamodule.RestorationDataModule: batches, reproducibility, sets, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from PIL import Image

from data.cache import MappedImages
from data.datamodule import RestorationDataModule
from data.degradations import BicubicDown, GaussianNoise
from data.sources import EMBEDDED_HELD_OUT, EMBEDDED_TRAIN


@pytest.fixture
def train_folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for name, (h, w) in {"p": (40, 44), "q": (36, 50), "r": (48, 48)}.items():
        array = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        Image.fromarray(array).save(tmp_path / f"{name}.png")
    return tmp_path


def _module(train_folder: Path, **overrides: object) -> RestorationDataModule:
    kwargs: dict = dict(
        degradation=GaussianNoise(25.0),
        train_source=str(train_folder),
        val_sets=(),
        patch_size=8,
        batch_size=4,
        samples_per_epoch=8,
        num_workers=0,
        seed=7,
    )
    kwargs.update(overrides)
    return RestorationDataModule(**kwargs)


def _epoch(dm: RestorationDataModule, epoch: int = 0) -> list[dict]:
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(epoch)
    return list(loader)


def _same(a: list[dict], b: list[dict]) -> bool:
    return all(
        torch.equal(x["lq"], y["lq"]) and torch.equal(x["gt"], y["gt"]) and x["name"] == y["name"]
        for x, y in zip(a, b, strict=True)
    )


def test_train_batches_shape_and_keys(train_folder: Path) -> None:
    dm = _module(train_folder, degradation=BicubicDown(2))
    dm.setup("fit")
    batches = _epoch(dm)
    assert len(batches) == 2
    batch = batches[0]
    assert set(batch) == {"lq", "gt", "name"}
    assert batch["lq"].shape == (4, 3, 8, 8) and batch["gt"].shape == (4, 3, 16, 16)
    assert batch["lq"].dtype == torch.float32 and len(batch["name"]) == 4


def test_batches_do_not_depend_on_workers_and_epochs_differ(train_folder: Path) -> None:
    serial = _epoch(_module(train_folder, num_workers=0))
    assert _same(serial, _epoch(_module(train_folder, num_workers=0)))
    assert _same(serial, _epoch(_module(train_folder, num_workers=2)))
    assert not _same(serial, _epoch(_module(train_folder, num_workers=0), epoch=1))
    assert not _same(serial, _epoch(_module(train_folder, num_workers=0, seed=8)))


def test_caching_training_images_does_not_change_batches(train_folder: Path) -> None:
    cached = _module(train_folder, cache_train_images=True, cache_dir=str(train_folder / "c"))
    assert _same(_epoch(_module(train_folder)), _epoch(cached))
    assert isinstance(cached.train_set.source, MappedImages)
    with pytest.raises(ValueError, match="cache_train_images needs cache_dir"):
        _module(train_folder, cache_train_images=True)


class _Recorder(pl.LightningModule):
    """Records the GT sums of the training batches it sees, per epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.seen: list[tuple[int, float]] = []

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        self.seen.append((self.current_epoch, float(batch["gt"].sum())))
        return self.weight * batch["lq"].mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)


def _fit(train_folder: Path) -> list[tuple[int, float]]:
    module = _Recorder()
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(module, datamodule=_module(train_folder))
    return module.seen


def test_trainer_advances_epochs_reproducibly(train_folder: Path) -> None:
    seen = _fit(train_folder)
    assert [epoch for epoch, _ in seen] == [0, 0, 1, 1]
    assert {s for e, s in seen if e == 0}.isdisjoint({s for e, s in seen if e == 1})
    assert _fit(train_folder) == seen


def test_embedded_quick_start_validation_sets() -> None:
    dm = RestorationDataModule(degradation=BicubicDown(3), num_workers=0, samples_per_epoch=16)
    assert dm.val_set_names == ("embedded",) and dm.test_set_names == ()
    loaders = dm.val_dataloader()
    assert len(loaders) == 1 and loaders[0].batch_size == 1
    batch = next(iter(loaders[0]))
    assert batch["gt"].shape == (1, 3, 126, 126) and batch["lq"].shape == (1, 3, 42, 42)
    assert batch["name"] == ["chelsea_r0c0"]
    assert dm.test_dataloader() == []


def test_embedded_evaluates_only_held_out_photos_never_trained_on() -> None:
    dm = RestorationDataModule(
        degradation=GaussianNoise(25.0), num_workers=0, samples_per_epoch=16, embedded_crop=32
    )
    dm.setup("fit")
    (val,) = dm.val_datasets
    held_out = {Path(f).stem for f in EMBEDDED_HELD_OUT}
    assert set(dm.train_set.source.names) == {Path(f).stem for f in EMBEDDED_TRAIN}
    assert set(val.source.names) == held_out
    assert set(dm.train_set.source.names).isdisjoint(held_out)
    names = [name for _, name, _ in val.items]
    assert len(names) == 8 and len(set(names)) == 8
    assert names[:4] == ["chelsea_r0c0", "chelsea_r0c1", "chelsea_r1c0", "chelsea_r1c1"]
    assert {name.rsplit("_", 1)[0] for name in names} == held_out
    again = RestorationDataModule(degradation=GaussianNoise(25.0), num_workers=0, embedded_crop=32)
    again.setup("validate")
    assert again.val_datasets[0].items == val.items  # same crops in every run


@pytest.mark.benchmarks
def test_benchmark_sets_one_loader_per_set(benchmark_root: Path) -> None:
    dm = RestorationDataModule(
        degradation=GaussianNoise(50.0),
        val_sets=("Set5", "embedded"),
        test_sets="classic5",
        benchmark_root=str(benchmark_root),
        num_workers=0,
        colour="y",
    )
    assert dm.val_set_names == ("Set5", "embedded") and dm.test_set_names == ("classic5",)
    set5, embedded = dm.val_dataloader()
    assert len(set5) == 5 and len(embedded) == 8
    (classic5,) = dm.test_dataloader()
    batch = next(iter(classic5))
    assert batch["name"] == ["baboon"] and batch["gt"].shape[1] == 1


def test_bad_configuration_messages(train_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"sets \['Kodak24'\] .*benchmark_root"):
        RestorationDataModule(degradation=GaussianNoise(1.0), val_sets=("Kodak24",))
    (tmp_path / "bench" / "Kodak24").mkdir(parents=True)
    dm = RestorationDataModule(
        degradation=GaussianNoise(1.0),
        val_sets=("Urban100",),
        benchmark_root=str(tmp_path / "bench"),
    )
    with pytest.raises(ValueError, match=r"unknown benchmark set 'Urban100'.*Kodak24"):
        dm.setup("validate")
    with pytest.raises(ValueError, match="colour must be one of"):
        RestorationDataModule(degradation=GaussianNoise(1.0), colour="RGB")
    with pytest.raises(ValueError, match="samples_per_epoch"):
        RestorationDataModule(degradation=GaussianNoise(1.0), samples_per_epoch=4, batch_size=16)
    with pytest.raises(ValueError, match="train_lq_source"):
        RestorationDataModule(degradation=GaussianNoise(1.0), train_lq_source=str(train_folder))
    with pytest.raises(ValueError, match="twice"):
        RestorationDataModule(degradation=GaussianNoise(1.0), val_sets=("embedded", "embedded"))


def test_benchmark_crop_scores_fixed_crops_of_each_benchmark_image(tmp_path: Path) -> None:
    """benchmark_crop=16: a 40x36 image gives 2 x 2 crops of 16 px, a 20x12 one a single
    16x12 crop; the same crops and noisy inputs in every run; whole images by default."""
    bench = tmp_path / "bench" / "Tiny"
    bench.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, (h, w) in {"a": (40, 36), "b": (20, 12)}.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(bench / f"{name}.png")

    def module(**overrides: object) -> RestorationDataModule:
        kwargs: dict = dict(
            degradation=GaussianNoise(30.0),
            val_sets=("Tiny", "embedded"),
            test_sets=("Tiny",),
            benchmark_root=str(tmp_path / "bench"),
            num_workers=0,
            embedded_crop=24,
        )
        return RestorationDataModule(**{**kwargs, **overrides})

    cropped = module(benchmark_crop=16)
    tiny, embedded = cropped.val_dataloader()
    batches = list(tiny)
    names = [b["name"][0] for b in batches]
    assert names == ["a_r0c0", "a_r0c1", "a_r1c0", "a_r1c1", "b_r0c0"]
    assert [tuple(b["gt"].shape[-2:]) for b in batches] == [(16, 16)] * 4 + [(16, 12)]
    assert len(embedded) == 8  # the embedded crops keep their own size
    again = [b["lq"] for b in module(benchmark_crop=16).test_dataloader()[0]]
    assert all(torch.equal(x, b["lq"]) for x, b in zip(again, batches, strict=True))
    whole = list(module().val_dataloader()[0])
    assert [b["name"][0] for b in whole] == ["a", "b"] and whole[0]["gt"].shape[-2:] == (40, 36)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="benchmark_crop must be a positive crop side"):
            module(benchmark_crop=bad)
    with pytest.raises(ValueError, match="paired sets"):
        module(benchmark_crop=16, paired_sets=True)
