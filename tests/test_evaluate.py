"""evaluate.py: train -> checkpoint -> evaluate round trip, baselines, and metrics.json shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from evaluate import evaluate
from panet.checkpoints import load_for_evaluation, save_network
from panet.cli.config_checks import ConfigError
from panet.models.registry import build_network
from tests.run_helpers import TINY, compose_config, run_script
from train import train

EMBEDDED = ("data.test_sets=[embedded]", "data.embedded_crop=32", "data.num_workers=0")


def check_metrics_shape(metrics: dict, sets: list[str]) -> None:
    for name in sets:
        for key in ("psnr", "ssim", "psnr_input", "ssim_input", "n_images"):
            assert isinstance(metrics[f"{name}/{key}"], float), f"{name}/{key}"
    meta = metrics["meta"]
    for key in ("task", "degradation", "protocol", "inference", "self_ensemble", "checkpoint"):
        assert key in meta
    assert set(meta["protocol"]) >= {"channels", "shave", "ssim_window"}
    assert meta["sets"] == sets


@pytest.mark.slow
def test_train_checkpoint_evaluate_round_trip(tmp_path: Path) -> None:
    cfg = compose_config(
        "train", ["trainer.max_steps=4", "logger=none", *TINY], tmp_path, run_dir=tmp_path / "train"
    )
    trained = train(cfg)
    ckpt = Path(trained["meta"]["best_checkpoint"])
    ours = save_network(load_for_evaluation(ckpt), tmp_path / "net.pt")
    for source in (ckpt, ours):
        cfg = compose_config(
            "evaluate",
            [f"ckpt={source}", *EMBEDDED],
            tmp_path,
            run_dir=tmp_path / f"eval_{source.suffix}",
        )
        metrics = evaluate(cfg)
        check_metrics_shape(metrics, ["embedded"])
        written = json.loads((tmp_path / f"eval_{source.suffix}" / "metrics.json").read_text())
        assert written["embedded/psnr"] == pytest.approx(metrics["embedded/psnr"])
        # The same weights, the same images, the same protocol as train.py's test stage.
        assert metrics["embedded/psnr"] == pytest.approx(trained["test/embedded/psnr"], abs=1e-3)
        assert written["meta"]["checkpoint"] == str(source)


def test_identity_baseline_and_images(tmp_path: Path) -> None:
    cfg = compose_config("evaluate", ["model=identity", "save_images=true", *EMBEDDED], tmp_path)
    metrics = evaluate(cfg)
    check_metrics_shape(metrics, ["embedded"])
    assert metrics["embedded/psnr"] == metrics["embedded/psnr_input"]
    assert metrics["meta"]["degradation"]["sigma"] == 30
    assert len(list((tmp_path / "run" / "images" / "embedded").glob("*.png"))) == 8
    # device=auto: the run records where it ran.
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert metrics["meta"]["device"] == expected
    assert metrics["meta"]["torch"] == torch.__version__


def test_a_trainable_model_without_weights_is_refused(tmp_path: Path) -> None:
    """model=csnln_s without ckpt= used to score random weights; it is refused before any
    image is read."""
    overrides = ["task=sr", "degradation.scale=2", "model=csnln_s", *EMBEDDED]
    cfg = compose_config("evaluate", overrides, tmp_path)
    with pytest.raises(ConfigError, match=r"trainable network \(190,\d{3} parameters\).*ckpt="):
        evaluate(cfg)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_cuda_requested_without_cuda_is_a_config_error(tmp_path: Path) -> None:
    cfg = compose_config("evaluate", ["model=identity", "device=cuda", *EMBEDDED], tmp_path)
    with pytest.raises(ConfigError, match="CUDA is not available.*device=cpu"):
        evaluate(cfg)


def test_evaluate_on_the_cpu_records_it(tmp_path: Path) -> None:
    cfg = compose_config("evaluate", ["model=identity", "device=cpu", *EMBEDDED], tmp_path)
    meta = evaluate(cfg)["meta"]
    assert (meta["device"], meta["device_name"], meta["tf32"]) == ("cpu", None, False)


def test_checkpoint_or_model_exactly_one(tmp_path: Path) -> None:
    cfg = compose_config("evaluate", [*EMBEDDED], tmp_path)
    with pytest.raises(ConfigError, match="exactly one"):
        evaluate(cfg)


def test_checkpoint_that_does_not_fit_the_task_is_refused(tmp_path: Path) -> None:
    rgb = build_network("panet", n_colors=3, n_feats=4, n_resblocks=1, levels=1)
    path = save_network(rgb, tmp_path / "rgb.pt")
    cfg = compose_config("evaluate", [f"ckpt={path}", "task=car", *EMBEDDED], tmp_path)
    with pytest.raises(ConfigError, match="Y channel.*n_colors=1"):
        evaluate(cfg)


@pytest.mark.slow
def test_jpeg_row_from_the_command_line(tmp_path: Path, benchmark_root: Path) -> None:
    result = run_script(
        "evaluate.py",
        [
            "model=identity",
            "task=car",
            "degradation.quality=10",
            "task.protocol.ssim_window=box8",
            f"paths.benchmark_root={benchmark_root}",
            "run_name=jpeg",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(
        (tmp_path / "logs" / "evaluate" / "car" / "jpeg" / "metrics.json").read_text()
    )
    assert metrics["classic5/psnr"] == pytest.approx(27.82, abs=0.005)
    assert metrics["classic5/ssim"] == pytest.approx(0.7800, abs=0.0002)
    assert metrics["meta"]["protocol"]["ssim_window"] == "box8"


@pytest.mark.parametrize("task", ["deblur", "derain"])
def test_official_mprnet_weights_are_evaluated_with_the_inputs_score(
    tmp_path: Path, task: str
) -> None:
    from tests.panet.checkpoints.test_mprnet_official import write_official
    from tests.panet.models.mprnet_reference import official_state

    path = write_official(tmp_path / "mprnet.pth", official_state(8, 4, 4, num_cab=1))
    arch_args = ("variant=null", "n_feats=8", "scale_unetfeats=4", "scale_orsnetfeats=4")
    overrides = [
        f"ckpt={path}",
        "official_arch=mprnet",
        *(f"+arch_args.{a}" for a in (*arch_args, "num_cab=1")),
        f"task={task}",
        "data.embedded_crop=36",  # not a multiple of 8: padded for the network, cropped back
        *EMBEDDED[:1],
        *EMBEDDED[2:],
    ]
    metrics = evaluate(compose_config("evaluate", overrides, tmp_path))
    check_metrics_shape(metrics, ["embedded"])
    assert metrics["meta"]["network"]["arch"] == "mprnet"
    assert metrics["embedded/psnr_input"] > 15
