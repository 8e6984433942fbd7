"""The rows of ``benchmarks/gpu_check.sh`` that run the platform's own commands (the quick start,
``evaluate.py``) and its data loader, each through ``benchmarks.gpu_measure.measure_row``."""

from __future__ import annotations

import argparse
import json
import os
import runpy
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.gpu_measure import REPO, Run, measure_row, sync
from benchmarks.gpu_table import OK, SKIPPED, Row, all_rows

RUN_NAME = "gpu_check"


def benchmark_root() -> Path:
    return Path(os.environ.get("PANET_BENCHMARKS", REPO.parent / "shared" / "benchmarks"))


def tiny_benchmark_set(run: Run) -> Path:
    """Dry run: a benchmark root holding ``Tiny2``, two 32x32 RGB images."""
    import numpy as np
    from PIL import Image

    root = run.work / "bench"
    folder = root / "Tiny2"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(2):
        pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"tiny{index}.png")
    return root


def read_metrics(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def scores(metrics: dict[str, Any], prefix: str = "") -> str:
    """``PSNR a dB (input b dB), SSIM c`` of every set in a metrics.json."""
    parts = []
    for key, value in metrics.items():
        if key.startswith(prefix) and key.endswith("/psnr"):
            base = key[: -len("/psnr")]
            text = f"{base.removeprefix(prefix)} PSNR {value:.2f} dB"
            if f"{base}/psnr_input" in metrics:
                text += f" (input {metrics[f'{base}/psnr_input']:.2f})"
            if f"{base}/ssim" in metrics:
                text += f", SSIM {metrics[f'{base}/ssim']:.4f}"
            parts.append(text)
    return "; ".join(parts) or "no scores"


TINY_TRAINING = (
    "model.n_feats=8",
    "model.n_resblocks=2",
    "data.patch_size=16",
    "data.batch_size=2",
    "data.samples_per_epoch=4",
    "data.embedded_crop=32",
    "trainer.max_steps=2",
    "callbacks.image_panels.num_images=0",
    "~callbacks.attention_maps",
)


def quickstart_arguments(run: Run, ddp: bool) -> tuple[str, list[str]]:
    """The run name and the train.py arguments of the quick-start row."""
    name = f"{RUN_NAME}_ddp2" if ddp else RUN_NAME
    args = [f"run_name={name}", "logger=csv", f"paths.log_dir={run.out / 'runs'}"]
    args += ["trainer=ddp", "trainer.devices=2"] if ddp else ["trainer=gpu"]
    if run.dry_run:
        args += ["trainer.accelerator=cpu", "data.num_workers=0", *TINY_TRAINING]
    return name, args


def step_quickstart(run: Run, args: argparse.Namespace) -> None:
    ddp = bool(args.ddp)
    variant = "trainer=ddp, 2 processes" if ddp else "trainer=gpu"
    row = Row("quick start", "python train.py (PANet-S, sigma 30)", variant)
    run.log.plan([row])
    if ddp and run.cuda and torch.cuda.device_count() < 2:
        row.status = SKIPPED
        row.note(f"needs 2 GPUs, this machine has {torch.cuda.device_count()}")
        run.log.write(row)
        return

    def measure(row: Row) -> None:
        name, arguments = quickstart_arguments(run, ddp)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, str(REPO / "train.py"), *arguments], cwd=REPO)
        seconds = time.perf_counter() - start
        row.time = f"{seconds:.1f} s"
        if result.returncode != 0:
            raise RuntimeError(f"train.py exited with status {result.returncode}")
        metrics = read_metrics(run.out / "runs" / "train" / "denoise" / name / "metrics.json")
        meta = metrics.get("meta", {})
        row.note(scores(metrics, "test/"))
        row.note(f"{metrics.get('step')} steps on {meta.get('device')} x{meta.get('devices')}")
        row.note(f"{meta.get('precision')}, tf32 {meta.get('tf32')}")
        if run.dry_run:
            row.note("dry run: tiny network, 2 steps, CPU")

    measure_row(run, row, measure)


def run_entry_point(script: str, arguments: list[str]) -> None:
    """``python {script} {arguments}`` in this process (so that its GPU memory is measured)."""
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    saved = sys.argv
    sys.argv = [str(REPO / script), *arguments]
    try:
        runpy.run_path(str(REPO / script), run_name="__main__")
    except SystemExit as stop:
        if stop.code not in (0, None):
            raise RuntimeError(f"{script} exited with status {stop.code}") from None
    finally:
        sys.argv = saved


def untrained_network(run: Run, arch: str, arch_args: dict, name: str) -> Path:
    """A network file of random weights (times and memory only: its scores mean nothing)."""
    from panet.checkpoints import save_network
    from panet.models.registry import build_network

    torch.manual_seed(0)
    return save_network(build_network(arch, **arch_args), run.work / f"{name}.pt")


def evaluation_plan(run: Run) -> list[tuple[Row, list[str] | str]]:
    """Each evaluate.py row and its arguments (or why it is skipped)."""
    root = tiny_benchmark_set(run) if run.dry_run else benchmark_root()
    denoise_set, sr_set = ("Tiny2", "Tiny2") if run.dry_run else ("Kodak24", "Set5")
    common = [f"paths.benchmark_root={root}", f"paths.log_dir={run.out / 'runs'}"]
    common.append(f"device={'cuda' if run.cuda else 'cpu'}")
    plan: list[tuple[Row, list[str] | str]] = []

    row = Row("evaluate.py", f"{denoise_set}, denoise sigma 30, whole images", "PANet-S")
    quickstart = run.out / "runs" / "train" / "denoise" / RUN_NAME / "checkpoints" / "best.ckpt"
    if quickstart.is_file():
        ckpt, row.notes = quickstart, "the quick start's best.ckpt"
    else:
        tiny = {"n_feats": 8, "n_resblocks": 2} if run.dry_run else {"n_resblocks": 8}
        ckpt = untrained_network(run, "panet", tiny, "panet_s_untrained")
        row.notes = "untrained PANet-S (no quick-start checkpoint): PSNR means nothing"
    arguments = [f"ckpt={ckpt}", f"data.test_sets=[{denoise_set}]", "inference=full"]
    missing = f"no {denoise_set} under {root} (set PANET_BENCHMARKS)"
    plan.append((row, [*arguments, *common, "run_name=gpu_check_denoise"]))
    if not (root / denoise_set).is_dir():
        plan[-1] = (row, missing)

    row = Row("evaluate.py", f"{sr_set} x2, chop", "PA-EDSR")
    weights = os.environ.get("PA_EDSR_X2")
    if weights:
        arguments = [f"ckpt={weights}", "official_arch=pa_edsr", "+arch_args.scale=2"]
        row.notes = f"the authors' weights {weights}"
    else:
        tiny = {"scale": 2, "n_feats": 8, "n_resblocks": 2} if run.dry_run else {"scale": 2}
        arguments = [f"ckpt={untrained_network(run, 'pa_edsr', tiny, 'pa_edsr_x2_untrained')}"]
        row.notes = "untrained PA-EDSR (PA_EDSR_X2=<the authors' .pt> for a paper row)"
    arguments += ["task=sr", "degradation.scale=2", f"data.test_sets=[{sr_set}]", "inference=chop"]
    plan.append((row, [*arguments, *common, "run_name=gpu_check_sr"]))
    if not (root / sr_set).is_dir():
        plan[-1] = (row, f"no {sr_set} under {root} (set PANET_BENCHMARKS)")
    return plan


def step_evaluate(run: Run, _args: argparse.Namespace) -> None:
    plan = evaluation_plan(run)
    run.log.plan([row for row, _ in plan])
    for row, arguments in plan:
        if isinstance(arguments, str):
            row.status = SKIPPED
            row.note(arguments)
            run.log.write(row)
            continue

        def measure(row: Row, arguments: list[str] = arguments) -> None:
            start = time.perf_counter()
            if run.cuda:
                torch.cuda.reset_peak_memory_stats(run.device)
            run_entry_point("evaluate.py", arguments)
            row.time = f"{time.perf_counter() - start:.1f} s"
            if run.cuda:
                row.peak_mib = torch.cuda.max_memory_allocated(run.device) / 2**20
            name = next(a.split("=", 1)[1] for a in arguments if a.startswith("run_name="))
            task = "sr" if "task=sr" in arguments else "denoise"
            metrics = read_metrics(run.out / "runs" / "evaluate" / task / name / "metrics.json")
            row.note(scores(metrics))
            row.note(f"on {metrics['meta'].get('device_name') or metrics['meta'].get('device')}")

        measure_row(run, row, measure)


# ---------------------------------------------------------------- data loading


def panet_step_rate(out: Path) -> tuple[float, str] | None:
    """The fastest PANet training step measured by the training rows (steps/s, which)."""
    rates = []
    for row in all_rows(out):
        panet = row.group == "training steps" and row.case.startswith("PANet")
        if panet and row.status == OK and row.time.endswith(" ms"):
            ms = float(row.time.split()[0].replace(",", ""))
            rates.append((1000 / ms, f"{row.variant} {row.case}"))
    return max(rates) if rates else None


def step_data(run: Run, _args: argparse.Namespace) -> None:
    from torch.utils.data import DataLoader

    from benchmarks.data import BATCH, PATCH, synthesize_photo
    from data.cache import MappedImages
    from data.datasets import TrainPatches
    from data.degradations import GaussianNoise
    from data.sources import ImageFolder
    from data.workers import resolve_num_workers

    workers = resolve_num_workers("auto")
    row = Row("data loading", f"uint8 cache, denoise, {BATCH}x{PATCH}^2", f"{workers} workers")
    run.log.plan([row])

    def measure(row: Row) -> None:
        count, size, batches = (2, (160, 200), 4) if run.dry_run else (4, (1356, 2040), 100)
        images = run.work / "data_images"
        images.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            synthesize_photo(index, size).save(images / f"{index:04d}.png")
        cache = MappedImages.build(ImageFolder(images), run.work / "data_cache")
        dataset = TrainPatches(
            cache,
            degradation=GaussianNoise(30.0),
            patch_size=PATCH,
            samples_per_epoch=10**6,
            seed=0,
            colour="rgb",
        )
        loader = DataLoader(
            dataset,
            batch_size=BATCH,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=run.cuda,
        )
        batches_seen = iter(loader)
        for _ in range(workers + 1):  # warm-up: every worker started and delivered once
            next(batches_seen)
        start = time.perf_counter()
        for _ in range(batches):
            batch = next(batches_seen)
            batch["lq"].to(run.device, non_blocking=True)
        sync(run.device)
        rate = batches / (time.perf_counter() - start)
        row.time = f"{1000 / rate:.1f} ms/batch"
        row.note(f"{rate:.1f} batches/s ({count} images {size[1]}x{size[0]}, mean of {batches})")
        step = panet_step_rate(run.out)
        if step is None:
            row.note("no PANet step rate was measured to compare with")
        else:
            verdict = "keeps up" if rate >= step[0] else "the GPU is STARVED"
            row.note(f"{rate / step[0]:.1f}x the {step[1]} rate ({step[0]:.2f} steps/s): {verdict}")

    measure_row(run, row, measure)
