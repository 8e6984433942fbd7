"""num_workers=auto: SLURM's CPUs per task, else the CPU affinity shared by local processes."""

from __future__ import annotations

import os

import pytest
import pytorch_lightning as pl

from data.datamodule import RestorationDataModule
from data.degradations import GaussianNoise
from data.workers import process_cpus, resolve_num_workers


def test_slurm_cpus_per_task_belong_to_this_process() -> None:
    env = {"SLURM_CPUS_PER_TASK": "8"}
    assert process_cpus(env, affinity=set(range(64)), local_processes=4) == 8
    assert resolve_num_workers("auto", env=env, local_processes=4) == 7
    with pytest.raises(ValueError, match="SLURM_CPUS_PER_TASK='eight'"):
        process_cpus({"SLURM_CPUS_PER_TASK": "eight"})


def test_affinity_is_shared_by_the_local_processes() -> None:
    assert resolve_num_workers("auto", env={}, affinity=set(range(16)), local_processes=2) == 7
    assert resolve_num_workers("AUTO", env={}, affinity=set(range(16))) == 15
    assert resolve_num_workers("auto", env={}, affinity={0, 1}) == 1  # CI: 2 cores
    assert resolve_num_workers("auto", env={}, affinity={0}, local_processes=2) == 0


def test_explicit_counts_and_bad_values() -> None:
    assert resolve_num_workers(3) == 3 and resolve_num_workers(0) == 0
    for bad in (-1, "four", 2.5, True):
        with pytest.raises(ValueError, match="'auto' or an integer >= 0"):
            resolve_num_workers(bad)


def test_datamodule_divides_the_machine_by_the_trainer_devices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    module = RestorationDataModule(degradation=GaussianNoise(30.0), val_sets=())
    cpus = len(os.sched_getaffinity(0))
    assert module.workers() == cpus - 1
    module.trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", logger=False, enable_progress_bar=False
    )
    assert module.workers() == max(1, cpus // 2) - 1
    loader = module.train_dataloader()
    assert loader.num_workers == module.workers()
    assert loader.pin_memory is False  # pinned memory only when training on a GPU
    with pytest.raises(ValueError, match="num_workers must be 'auto'"):
        RestorationDataModule(degradation=GaussianNoise(30.0), val_sets=(), num_workers=-2)
