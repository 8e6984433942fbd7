"""Evaluate a checkpoint or a baseline on benchmark sets under a task's exact protocol.

    python evaluate.py ckpt=outputs/train/denoise/default/checkpoints/best.ckpt
    python evaluate.py ckpt=model_x2.pt official_arch=pa_edsr task=sr degradation.scale=2 \
        +arch_args.scale=2 inference=chop
    python evaluate.py model=identity task=car degradation.quality=10   # the "JPEG" row

Prints a paper-style table and writes ``metrics.json`` into the run folder: a flat object
``{"{set}/psnr": mean, "{set}/ssim": mean, "{set}/psnr_input": ..., "{set}/n_images": ...,
"meta": {...}}`` where ``meta`` records the task, degradation, protocol, inference options and
the network, so that every number carries its protocol.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from panet.config_checks import ConfigError, check_model, check_task
from panet.run_setup import (
    METRICS_FILE,
    bootstrap,
    plain_config,
    print_config_tree,
    register_resolvers,
    save_resolved_config,
    write_metrics,
)

bootstrap()


def build_network(cfg: DictConfig) -> tuple[nn.Module, str]:
    """The network to evaluate (eval mode) and a description of where it came from."""
    if (cfg.ckpt is None) == (cfg.get("model") is None):
        raise ConfigError(
            "give exactly one of ckpt=<checkpoint file> or model=identity|bicubic; got "
            f"ckpt={cfg.ckpt!r}, model={'set' if cfg.get('model') is not None else None}"
        )
    if cfg.ckpt is not None:
        from panet.ckpt_loading import load_for_evaluation

        arch_args = OmegaConf.to_container(cfg.arch_args, resolve=True) or {}
        net = load_for_evaluation(cfg.ckpt, cfg.official_arch, arch_args)
        return net, str(cfg.ckpt)
    if cfg.official_arch is not None or cfg.arch_args:
        raise ConfigError("official_arch/arch_args describe a checkpoint: pass ckpt=<file> too")
    check_model(OmegaConf.to_container(cfg.model, resolve=True), cfg.task, training=False)
    return instantiate(cfg.model).eval(), f"baseline {cfg.model._target_}"


def check_network_fits_task(net: nn.Module, cfg: DictConfig) -> None:
    """The network's scale and channels must match the task's degradation and colour."""
    scale = int(cfg.degradation.get("scale", 1))
    if int(net.scale) != scale:
        raise ConfigError(
            f"the network upscales by {net.scale} but the degradation's scale is {scale}; set "
            f"task=sr degradation.scale={net.scale} (or the matching checkpoint)"
        )
    n_colors = (getattr(net, "arch_args", {}) or {}).get("n_colors")
    if n_colors is not None and cfg.task.colour == "y" and n_colors != 1:
        raise ConfigError(
            f"task={cfg.task.name} scores the Y channel but the network takes {n_colors} "
            "channels; use a 1-channel (n_colors=1) checkpoint"
        )


def score_sets(
    net: nn.Module, cfg: DictConfig, output_dir: Path
) -> tuple[dict[str, float], list[str]]:
    """Restore and score every image of every test set; returns set means and set names."""
    from rich.progress import track

    from data.io import write_png
    from panet.protocols import quantize
    from panet.scoring import SCORE_KEYS, ImageScorer

    datamodule = instantiate(cfg.data)
    datamodule.setup("test")
    restore = instantiate(cfg.inference)
    scorer = ImageScorer(instantiate(cfg.task.protocol), int(net.scale))
    metrics: dict[str, float] = {}
    names = list(datamodule.test_set_names)
    for set_name, loader in zip(names, datamodule.test_dataloader(), strict=True):
        sums = dict.fromkeys(SCORE_KEYS, 0.0)
        count = 0
        for batch in track(loader, description=f"{set_name:>12}", total=len(loader)):
            lq, gt = batch["lq"], batch["gt"]
            with torch.no_grad():
                pred = restore(net, lq)
            for i in range(gt.shape[0]):
                scores = scorer(set_name, batch["name"][i], pred[i], lq[i], gt[i])
                for key, value in scores.items():
                    sums[key] += value
                count += 1
                if cfg.save_images:
                    image = quantize(pred[i]).float()
                    write_png(image, output_dir / "images" / set_name / f"{batch['name'][i]}.png")
        for key, total in sums.items():
            metrics[f"{set_name}/{key}"] = total / count if count else float("nan")
        metrics[f"{set_name}/n_images"] = float(count)
    return metrics, names


def print_table(metrics: dict[str, float], names: list[str], title: str) -> None:
    """Paper-style table: one row per set, PSNR/SSIM of the input and of the output."""
    import rich
    from rich.table import Table

    table = Table(title=title)
    for column in ("set", "images", "input PSNR / SSIM", "output PSNR / SSIM", "gain (dB)"):
        table.add_column(column, justify="left" if column == "set" else "right")
    for name in names:
        m = {k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith(f"{name}/")}
        table.add_row(
            name,
            f"{m['n_images']:.0f}",
            f"{m['psnr_input']:.2f} / {m['ssim_input']:.4f}",
            f"{m['psnr']:.2f} / {m['ssim']:.4f}",
            f"{m['psnr'] - m['psnr_input']:+.2f}",
        )
    rich.print(table)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Run the evaluation described by ``cfg``; returns what is written to metrics.json."""
    from panet.inference import describe_inference

    plain = plain_config(cfg)
    check_task(plain["task"], plain["degradation"])
    output_dir = Path(cfg.paths.output_dir)
    if cfg.get("print_config"):
        print_config_tree(cfg, title=f"run folder: {output_dir}")
    save_resolved_config(cfg, output_dir)

    net, source = build_network(cfg)
    check_network_fits_task(net, cfg)
    metrics, names = score_sets(net, cfg, output_dir)
    protocol = instantiate(cfg.task.protocol)
    degradation = instantiate(cfg.degradation)
    inference = {k: v for k, v in plain["inference"].items() if not k.startswith("_")}
    result: dict[str, Any] = dict(metrics)
    result["meta"] = {
        "task": cfg.task.name,
        "sets": names,
        "colour": cfg.task.colour,
        "degradation": degradation.describe(),
        "protocol": protocol.describe(),
        "inference": describe_inference(**inference),
        "self_ensemble": bool(inference.get("self_ensemble", False)),
        "network": {"arch": net.arch, "arch_args": dict(net.arch_args), "source": source},
        "checkpoint": None if cfg.ckpt is None else str(cfg.ckpt),
    }
    write_metrics(output_dir / METRICS_FILE, result)
    suffix = "+" if result["meta"]["self_ensemble"] else ""
    print_table(
        metrics,
        names,
        title=f"{cfg.task.name}: {source}{suffix} "
        f"({protocol.channels.upper()}, shave {protocol.shave}, "
        f"{protocol.ssim_window} SSIM)",
    )
    print(f"metrics: {output_dir / METRICS_FILE}")
    return result


@hydra.main(version_base="1.3", config_path="configs", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    register_resolvers()
    evaluate(cfg)


if __name__ == "__main__":
    main()
