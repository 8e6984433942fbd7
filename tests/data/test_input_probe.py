"""One prober for every input, before any heavy work: every source type the data module reads
(a training folder, with or without the decoded cache; paired training layouts and
train_lq_source; benchmark sets, whole or paired) is probed for everything its loader would
refuse, and all problems are listed at once, naming each file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data.datamodule import RestorationDataModule
from data.degradations import BicubicDown, GaussianNoise, MotionBlur
from data.validation import check_datamodule_inputs
from panet.evaluation.protocols import Protocol


def _rgb(path: Path, h: int = 40, w: int = 44, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _grey(path: Path, h: int = 40, w: int = 44) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w), 90, np.uint8)).save(path)
    return path


def _truncated(path: Path) -> Path:
    _rgb(path, seed=7)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _transparent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((40, 44, 4), 120, np.uint8)
    pixels[5:9, 5:9, 3] = 0  # a few see-through pixels
    Image.fromarray(pixels, "RGBA").save(path)
    return path


def _sixteen_bit(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((40, 44), 1000, np.uint16)).save(path)
    return path


def _module(tmp_path: Path, **kwargs) -> RestorationDataModule:  # noqa: ANN003
    defaults = dict(
        degradation=GaussianNoise(10.0),
        patch_size=16,
        batch_size=2,
        samples_per_epoch=4,
        num_workers=0,
        benchmark_root=str(tmp_path / "bench"),
    )
    return RestorationDataModule(**{**defaults, **kwargs})


def _refused(module: RestorationDataModule, stages=("fit", "test")) -> str:  # noqa: ANN001
    with pytest.raises(ValueError) as refused:
        check_datamodule_inputs(module, stages=stages, protocol=Protocol("rgb", 0))
    return str(refused.value)


SINGLE_FAULTS = {
    "truncated": (_truncated, "cannot decode image"),
    "transparent": (_transparent, "transparent"),
    "16-bit": (_sixteen_bit, "more than 8 bits"),
}


@pytest.mark.parametrize("cache", [False, True])
def test_a_training_folder_is_probed_before_the_cache_is_built(tmp_path: Path, cache: bool) -> None:
    folder = tmp_path / "train"
    _rgb(folder / "good.png")
    bad = {name: make(folder / f"{name}.png") for name, (make, _) in SINGLE_FAULTS.items()}
    _rgb(folder / "small.png", 10, 12)
    module = _module(
        tmp_path,
        train_source=str(folder),
        cache_train_images=cache,
        cache_dir=str(tmp_path / "cache"),
    )
    message = _refused(module, stages=("fit",))
    assert message.startswith("4 problem(s)")
    for name, (_, reason) in SINGLE_FAULTS.items():
        assert "training: " in message and str(bad[name]) in message and reason in message
    assert (
        f"image {folder / 'small.png'} is 10x12 pixels, smaller than the training patch" in message
    )
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").glob("*.u8"))


def test_a_blur_margin_counts_in_the_training_patch(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    _rgb(folder / "a.png", 20, 20)  # 16 px patches + a 3 px margin on each side need 22 px
    module = _module(tmp_path, train_source=str(folder), degradation=MotionBlur(kernel_size=7))
    assert f"{folder / 'a.png'} is 20x20 pixels, smaller than" in _refused(module, ("fit",))


PAIR_FAULTS = {
    "truncated target": lambda lq, gt: (_rgb(lq), _truncated(gt)),
    "sizes differ": lambda lq, gt: (_rgb(lq, 40, 44), _rgb(gt, 36, 44)),
    "grey input, RGB target": lambda lq, gt: (_grey(lq), _rgb(gt)),
    "transparent input": lambda lq, gt: (_transparent(lq), _rgb(gt)),
}
PAIR_REASONS = {
    "truncated target": "cannot decode image",
    "sizes differ": "paired images disagree",
    "grey input, RGB target": "channels",
    "transparent input": "transparent",
}


def _paired_folders(lq: Path, gt: Path) -> list[str]:
    _rgb(lq / "ok.png")
    _rgb(gt / "ok.png", seed=1)
    for name, make in PAIR_FAULTS.items():
        stem = name.replace(" ", "_").replace(",", "")
        make(lq / f"{stem}.png", gt / f"{stem}.png")
    return [name.replace(" ", "_").replace(",", "") for name in PAIR_FAULTS]


@pytest.mark.parametrize("layout", ["input/ + target/", "train_lq_source", "paired test set"])
def test_every_paired_source_is_probed_pair_by_pair(tmp_path: Path, layout: str) -> None:
    if layout == "input/ + target/":
        stems = _paired_folders(tmp_path / "GoPro" / "input", tmp_path / "GoPro" / "target")
        module = _module(tmp_path, train_source=str(tmp_path / "GoPro"), val_sets=())
        stages = ("fit",)
    elif layout == "train_lq_source":
        stems = _paired_folders(tmp_path / "lq", tmp_path / "gt")
        module = _module(
            tmp_path,
            train_source=str(tmp_path / "gt"),
            train_lq_source=str(tmp_path / "lq"),
            val_sets=(),
        )
        stages = ("fit",)
    else:
        set_dir = tmp_path / "bench" / "HIDE"
        stems = _paired_folders(set_dir / "input", set_dir / "target")
        module = _module(tmp_path, test_sets=("HIDE",), paired_sets=True)
        stages = ("test",)
    message = _refused(module, stages)
    assert message.startswith(f"{len(PAIR_FAULTS)} problem(s) among the {2 * (len(stems) + 1)}")
    for stem, (name, reason) in zip(stems, PAIR_REASONS.items(), strict=True):
        line = next((m for m in message.splitlines() if f"{stem}.png" in m), "")
        assert reason in line, (name, message)


def test_evaluation_images_too_small_for_the_protocol_are_named_before_scoring(
    tmp_path: Path,
) -> None:
    bench = tmp_path / "bench" / "Set3"
    _rgb(bench / "big.png")
    _rgb(bench / "tiny.png", 10, 30)  # smaller than the 11x11 SSIM window
    _rgb(bench / "odd.png", 13, 30)  # x2: 12 rows, shave 2 leaves 8 < 11
    module = _module(tmp_path, test_sets=("Set3",), degradation=BicubicDown(2))
    with pytest.raises(ValueError) as refused:
        check_datamodule_inputs(module, stages=("test",), protocol=Protocol("y", 2))
    message = str(refused.value)
    assert message.startswith("2 problem(s) among the 3 input images")
    for name in ("tiny", "odd"):
        assert f"test set Set3: image {bench / f'{name}.png'}" in message
    assert "too small for the scoring protocol" in message


def test_evaluation_crops_too_small_for_the_protocol_are_refused(tmp_path: Path) -> None:
    module = _module(tmp_path, val_sets=("embedded",), embedded_crop=8)
    with pytest.raises(ValueError, match=r"scored at 8x8: too small for the scoring protocol"):
        check_datamodule_inputs(module, stages=("fit",), protocol=Protocol("rgb", 0))


def test_evaluate_probes_a_paired_benchmark_set_before_the_first_image(tmp_path: Path) -> None:
    from evaluate import evaluate
    from tests.run_helpers import compose_config

    root = tmp_path / "bench" / "GoPro" / "test"
    for i in range(8):
        _rgb(root / "input" / f"{i}.png", 24, 32, seed=i)
        _rgb(root / "target" / f"{i}.png", 24, 32, seed=10 + i)
    _rgb(root / "input" / "7.png", 20, 32, seed=7)  # the 8th pair's sizes differ
    overrides = [
        "task=deblur",
        "model=identity",
        f"paths.benchmark_root={tmp_path / 'bench'}",
        "data.test_sets=[GoPro]",
        "data.num_workers=0",
        "save_images=true",
    ]
    with pytest.raises(ValueError, match=r"^1 problem\(s\) among the 16 input images") as refused:
        evaluate(compose_config("evaluate", overrides, tmp_path))
    assert f"LQ {root / 'input' / '7.png'} is 20x32" in str(refused.value)
    assert not (tmp_path / "run" / "images").exists()  # no image was restored


def test_training_on_an_unfinished_sub_image_cut_is_refused(tmp_path: Path) -> None:
    from data.prepare_subimages import claim_output_folder, cut_settings
    from data.sources import ImageFolder

    source = tmp_path / "large"
    _rgb(source / "a.png", 64, 64)
    out = tmp_path / "sub"
    claim_output_folder(out, cut_settings(ImageFolder(source), 32, 16, "png"))
    _rgb(out / "a_y0000_x0000.png", 32, 32)  # the cut was killed after its first sub-image
    module = _module(tmp_path, train_source=str(out), val_sets=())
    with pytest.raises(ValueError, match=r"sub-image cut that never finished"):
        check_datamodule_inputs(module, stages=("fit",))
