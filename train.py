"""Train a restoration network: compose the config, fit, test the best checkpoint.

    python train.py                                  # quick start (PANet-S, sigma 30, CPU)
    python train.py experiment=panet_dn_sigma30      # a paper configuration
    python train.py -m pyramid.levels=1,2,3,4,5      # an ablation sweep

The run folder (``hydra.run.dir``) is a function of the command's overrides, so rerunning a
killed run's command resumes from its ``checkpoints/last.ckpt`` (weights, optimizer, scheduler,
step, RNG). The folder receives the resolved config, checkpoints, logs and ``metrics.json``.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities import rank_zero_only

from callbacks.model_cost import cost_from
from data.validation import check_datamodule_inputs
from panet.attention.budget import set_memory_budget_mb
from panet.checkpoints.training import read_training_checkpoint
from panet.cli.config_checks import check_run_config
from panet.cli.extras import require_search_extra
from panet.cli.results import print_results_table, results_by_set
from panet.cli.run_folder import (
    check_checkpoint_architecture,
    check_resume_config,
    check_writable,
    remove_stale_temporaries,
)
from panet.cli.run_lock import hold_run_folder
from panet.cli.run_setup import bootstrap, finish_run, plain_config, register_resolvers, start_run
from panet.cli.seed_sweep import check_single_run_seeds
from panet.cli.trainer_setup import build_trainer
from panet.inference.devices import tf32_enabled
from panet.training.signals import StopTogetherOnSigterm, exit_nonzero_on_sigterm

bootstrap()
LAST_CHECKPOINT = "last.ckpt"


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a callbacks/logger group (None -> [])."""
    if not group:
        return []
    return [
        instantiate(node)
        for node in group.values()
        if isinstance(node, DictConfig) and "_target_" in node
    ]


def find_resume_checkpoint(callbacks: list[Any]) -> str | None:
    """The newest ``last.ckpt`` among the checkpoint callbacks' folders, if any (whatever it
    is: a folder or a broken file in its place is refused by the reader, not skipped)."""
    candidates = {
        Path(cb.dirpath) / LAST_CHECKPOINT
        for cb in callbacks
        if isinstance(cb, ModelCheckpoint) and cb.dirpath is not None
    }
    existing = [p for p in candidates if p.exists() or p.is_symlink()]
    return str(max(existing, key=lambda p: p.lstat().st_mtime)) if existing else None


def prepare_run_folder(output_dir: Path, callbacks: list[Any]) -> None:
    """Fail now if the run folder or a checkpoint folder is not writable, and remove the
    temporary files a killed writer left there."""
    folders = [output_dir] + sorted(
        {Path(cb.dirpath) for cb in callbacks if isinstance(cb, ModelCheckpoint) and cb.dirpath}
    )
    check_writable(*folders)
    for path in remove_stale_temporaries(*folders):
        print(f"removed {path}, left by a writer that was killed mid-write")


def best_checkpoint(trainer: pl.Trainer) -> str | None:
    """The best checkpoint by the monitored metric, when one was written."""
    callback = trainer.checkpoint_callback
    path = getattr(callback, "best_model_path", "") if callback is not None else ""
    return path if path and Path(path).is_file() else None


def scalar_metrics(metrics: dict[str, Any], prefixes: tuple[str, ...]) -> dict[str, float]:
    """Flat ``{key: float}`` of the logged metrics whose keys start with one of ``prefixes``."""
    return {k: float(v) for k, v in sorted(metrics.items()) if k.startswith(prefixes)}


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit and test as configured; returns the flat metrics written to ``metrics.json``.

    Everything that can be checked is checked before the run folder is written to: the config
    values, a resumed folder's saved config, an explicit checkpoint's architecture, every input
    image, and that the folder accepts files.
    """
    plain = plain_config(cfg)
    check_run_config(plain, training=True)
    set_memory_budget_mb(plain["pyramid"].get("memory_budget_mb"))
    if HydraConfig.initialized():
        check_single_run_seeds(plain.get("seeds"), HydraConfig.get().mode)
    output_dir = Path(cfg.paths.output_dir)
    # One process per run folder (DDP's other ranks run this same command by design).
    held = hold_run_folder(output_dir) if rank_zero_only.rank == 0 else contextlib.nullcontext()
    with held:
        return fit_and_test(cfg, plain, output_dir)


def fit_and_test(cfg: DictConfig, plain: dict[str, Any], output_dir: Path) -> dict[str, Any]:
    """The body of :func:`train`, run while this process holds the run folder."""
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    net = instantiate(cfg.model)
    module = instantiate(cfg.module, net=net)
    callbacks = instantiate_group(cfg.get("callbacks"))
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is not None:
        payload = read_training_checkpoint(ckpt_path, resuming=False)
        check_checkpoint_architecture(payload, ckpt_path, net.arch, net.arch_args)
    elif cfg.get("resume", True):
        ckpt_path = find_resume_checkpoint(callbacks)
        if ckpt_path is not None:
            check_resume_config(output_dir, plain)
            read_training_checkpoint(ckpt_path, resuming=True, run_dir=output_dir)
    check_datamodule_inputs(datamodule, protocol=module.protocol)
    if rank_zero_only.rank == 0:
        prepare_run_folder(output_dir, callbacks)
        start_run(cfg)

    loggers = instantiate_group(cfg.get("logger"))
    trainer: pl.Trainer = build_trainer(
        cfg.trainer,
        network=net,
        callbacks=[*callbacks, StopTogetherOnSigterm()],  # SIGTERM never hangs DDP
        logger=loggers or False,
    )
    if loggers:
        from callbacks.config_logging import log_resolved_config

        log_resolved_config(loggers, cfg)

    if ckpt_path is not None and rank_zero_only.rank == 0:
        print(f"Resuming from {ckpt_path}")
    # SIGTERM stops within seconds (between network calls, tiles, images), writes last.ckpt of
    # the last finished step and exits 143; under DDP only between steps and images (the ranks
    # must stop together).
    stopping = functools.partial(
        exit_nonzero_on_sigterm, lambda: trainer.global_step, stop_points=trainer.world_size == 1
    )
    with stopping():
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    metrics: dict[str, Any] = scalar_metrics(dict(trainer.callback_metrics), ("val/",))
    best = best_checkpoint(trainer)
    best_score = getattr(trainer.checkpoint_callback, "best_model_score", None)

    if cfg.get("test", True) and datamodule.test_set_names:
        with stopping():
            results = trainer.test(
                module, datamodule=datamodule, ckpt_path=best, weights_only=True, verbose=False
            )
        for result in results:
            metrics.update(scalar_metrics(result, ("test/",)))

    metrics["step"] = trainer.global_step
    monitor = cfg.monitor
    metrics["monitor_best"] = (
        float(best_score) if best_score is not None else metrics.get(monitor, float("nan"))
    )
    metrics["meta"] = {
        "task": cfg.task.name,
        "tags": list(cfg.get("tags") or []),
        "seed": cfg.seed,
        "overrides": list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else [],
        "model": HydraConfig.get().runtime.choices.get("model")
        if HydraConfig.initialized()
        else None,
        "arch": net.arch,
        "arch_args": OmegaConf.to_container(OmegaConf.create(dict(net.arch_args))),
        "degradation": OmegaConf.to_container(cfg.degradation, resolve=True),
        "protocol": OmegaConf.to_container(cfg.task.protocol, resolve=True),
        "inference": module.restore.describe(),
        "monitor": monitor,
        "best_checkpoint": best,
        "cost": cost_from(callbacks),
        "run_dir": str(output_dir),
        "device": str(trainer.strategy.root_device),
        "devices": trainer.world_size,
        "precision": str(trainer.precision),
        "tf32": tf32_enabled(),
    }
    if trainer.is_global_zero:
        stage = "test" if any(k.startswith("test/") for k in metrics) else "val"
        print_results_table(
            results_by_set(metrics, f"{stage}/"),
            title=f"{stage} results (PSNR dB / SSIM; input = the degraded image)",
        )
        finish_run(output_dir, metrics)
    return metrics


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns the best monitored value (for sweepers)."""
    register_resolvers()  # again: launchers may run this function in a fresh process
    metrics = train(cfg)
    value = metrics.get("monitor_best")
    return None if value is None else float(value)


if __name__ == "__main__":
    require_search_extra(sys.argv[1:])  # one line naming the extra, not Hydra's search path
    main()
