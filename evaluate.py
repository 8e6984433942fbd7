"""Evaluate a checkpoint or a baseline on benchmark sets under a task's exact protocol.

    python evaluate.py ckpt=outputs/train/denoise/default/checkpoints/best.ckpt
    python evaluate.py ckpt=model_x2.pt official_arch=pa_edsr task=sr degradation.scale=2 \
        +arch_args.scale=2 inference=chop
    python evaluate.py model=identity task=car degradation.quality=10   # the "JPEG" row

Prints a paper-style table and writes ``metrics.json`` into the run folder: a flat object
``{"{set}/psnr": mean, "{set}/ssim": mean, "{set}/psnr_input": ..., "{set}/n_images": ...,
"meta": {...}}`` where ``meta`` records the task, degradation, protocol, inference options,
the network and the device it ran on, so that every number carries its protocol.

    python evaluate.py ckpt=... device=cuda:1      # device: auto (default) | cpu | cuda | cuda:N
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from data.validation import check_datamodule_inputs
from panet.attention import use_attention_implementation
from panet.attention.budget import set_memory_budget_mb
from panet.cli.config_checks import ConfigError, check_model, check_task
from panet.cli.results import print_results_table, results_by_set
from panet.cli.run_lock import hold_run_folder
from panet.cli.run_setup import bootstrap, finish_run, plain_config, register_resolvers, start_run
from panet.inference import Inference
from panet.inference.devices import describe_device, resolve_device, set_tf32, tf32_enabled
from panet.tasks import check_network_fits_task

bootstrap()


def build_network(cfg: DictConfig) -> tuple[nn.Module, str]:
    """The network to evaluate (eval mode) and a description of where it came from."""
    if (cfg.ckpt is None) == (cfg.get("model") is None):
        raise ConfigError(
            "give exactly one of ckpt=<checkpoint file> or model=identity|bicubic; got "
            f"ckpt={cfg.ckpt!r}, model={'set' if cfg.get('model') is not None else None}"
        )
    if cfg.ckpt is not None:
        from panet.checkpoints.for_evaluation import load_for_evaluation

        arch_args = OmegaConf.to_container(cfg.arch_args, resolve=True) or {}
        net = load_for_evaluation(cfg.ckpt, cfg.official_arch, arch_args)
        return net, str(cfg.ckpt)
    if cfg.official_arch is not None or cfg.arch_args:
        raise ConfigError("official_arch/arch_args describe a checkpoint: pass ckpt=<file> too")
    check_model(OmegaConf.to_container(cfg.model, resolve=True), cfg.task, training=False)
    net = instantiate(cfg.model).eval()
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    if trainable:
        # a network built here has random weights: its scores would mean nothing
        raise ConfigError(
            f"model={cfg.model._target_} is a trainable network ({trainable:,} parameters) "
            "with no weights here: evaluate.py takes a trained one from ckpt=<file> (train.py's "
            "checkpoints/best.ckpt, a network file or the authors' .pt), or model=identity|bicubic"
        )
    return net, f"baseline {cfg.model._target_}"


def score_sets(
    net: nn.Module, inference: Inference, cfg: DictConfig, output_dir: Path
) -> tuple[dict[str, float], list[str]]:
    """Restore and score every image of every test set; returns set means and set names."""
    from rich.progress import track

    from panet.evaluation.scoring import ImageScorer, SetMeans, restore_and_score
    from panet.imaging.io import write_png

    datamodule = instantiate(cfg.data)
    protocol = instantiate(cfg.task.protocol)
    # every file, before the first image is restored
    check_datamodule_inputs(datamodule, stages=("test",), protocol=protocol)
    scorer = ImageScorer(protocol, int(net.scale))
    metrics: dict[str, float] = {}
    names = list(datamodule.test_set_names)
    for set_name, loader in zip(names, datamodule.test_dataloader(), strict=True):
        means = SetMeans()
        for batch in track(loader, description=f"{set_name:>12}", total=len(loader)):
            pred, scores = restore_and_score(net, inference, scorer, set_name, batch)
            means.add(scores)
            if cfg.save_images:
                for image, name in zip(pred, batch["name"], strict=True):
                    write_png(image, output_dir / "images" / set_name / f"{name}.png")
        metrics.update({f"{set_name}/{k}": v for k, v in means.means().items()})
    return metrics, names


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Run the evaluation described by ``cfg``; returns what is written to metrics.json."""
    plain = plain_config(cfg)
    check_task(plain["task"], plain["degradation"])
    with hold_run_folder(cfg.paths.output_dir):  # one process per run folder
        return evaluate_in(cfg)


def evaluate_in(cfg: DictConfig) -> dict[str, Any]:
    """The body of :func:`evaluate`, run while this process holds the run folder."""
    output_dir = start_run(cfg)

    try:
        device = resolve_device(cfg.device)
    except ValueError as error:
        raise ConfigError(str(error)) from error
    set_tf32(bool(cfg.tf32))
    try:
        set_memory_budget_mb(cfg.pyramid.get("memory_budget_mb"))
    except ValueError as error:
        raise ConfigError(str(error)) from error
    net, source = build_network(cfg)
    net = use_attention_implementation(net, cfg.pyramid.impl).to(device)
    try:
        check_network_fits_task(net, cfg.task.name, scale=int(cfg.degradation.get("scale", 1)))
    except ValueError as error:
        raise ConfigError(str(error)) from error
    inference: Inference = instantiate(cfg.inference)
    metrics, names = score_sets(net, inference, cfg, output_dir)
    protocol = instantiate(cfg.task.protocol)
    degradation = instantiate(cfg.degradation)
    result: dict[str, Any] = dict(metrics)
    result["meta"] = {
        "task": cfg.task.name,
        "sets": names,
        "colour": cfg.task.colour,
        "degradation": degradation.describe(),
        "protocol": protocol.describe(),
        "inference": inference.describe(),
        "self_ensemble": inference.self_ensemble,
        "network": {"arch": net.arch, "arch_args": dict(net.arch_args), "source": source},
        "checkpoint": None if cfg.ckpt is None else str(cfg.ckpt),
        **describe_device(device),
        "tf32": tf32_enabled() if device.type == "cuda" else False,
    }
    suffix = "+" if result["meta"]["self_ensemble"] else ""
    print_results_table(
        results_by_set(metrics),
        title=f"{cfg.task.name}: {source}{suffix} "
        f"({protocol.channels.upper()}, shave {protocol.shave}, "
        f"{protocol.ssim_window} SSIM)",
    )
    finish_run(output_dir, result)
    return result


@hydra.main(version_base="1.3", config_path="configs", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    register_resolvers()
    evaluate(cfg)


if __name__ == "__main__":
    main()
