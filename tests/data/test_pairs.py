"""Paired layouts (data.pairs): input/target, GoPro's blur/sharp sequences, errors; the data
module reading them with paired_sets; blur applied with a margin (no padded borders)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from data.datamodule import RestorationDataModule
from data.datasets import EvalImages, TrainPatches, degrade_with_margin, sample_generator
from data.degradations import GaussianNoise, MotionBlur
from data.motion_blur import apply_psf
from data.pairs import discover_pairs, has_paired_layout, paired_set
from data.seeding import eval_generator
from data.sources import ImageFolder
from data.transforms import random_aligned_box
from panet.evaluation.protocols import Protocol
from panet.imaging.dihedral import dihedral_variant


def _save(path: Path, value: int, size: tuple[int, int] = (20, 16)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)


def _random_image(path: Path, h: int, w: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    Image.fromarray(array).save(path)


def test_input_target_pairs_by_stem(tmp_path: Path) -> None:
    for i, name in enumerate(["b", "a", "c"]):
        _save(tmp_path / "Rain100L" / "input" / f"{name}.png", 10 + i)
        _save(
            tmp_path / "Rain100L" / "target" / f"{name}.jpg"
            if name == "c"
            else tmp_path / "Rain100L" / "target" / f"{name}.png",
            100 + i,
        )
    pairs = discover_pairs(tmp_path / "Rain100L")
    assert pairs.names == ("a", "b", "c")
    lq, gt = pairs.load_pair(0)
    assert lq.shape == (3, 16, 20) and lq[0, 0, 0] == 11 and gt[0, 0, 0] == 101
    assert pairs.paths(2)[0].name == "c.png" and pairs.paths(2)[1].name == "c.jpg"


def test_differently_named_pairs_follow_sorted_order_like_the_official_loaders(
    tmp_path: Path,
) -> None:
    for i in range(3):
        _save(tmp_path / "Test100" / "input" / f"rain-{i:03d}.png", i)
        _save(tmp_path / "Test100" / "target" / f"norain-{i:03d}.png", 50 + i)
    pairs = discover_pairs(tmp_path / "Test100")
    assert pairs.names == ("norain-000", "norain-001", "norain-002")
    lq, gt = pairs.load_pair(2)
    assert lq[0, 0, 0] == 2 and gt[0, 0, 0] == 52
    _save(tmp_path / "Test100" / "target" / "norain-003.png", 9)
    with pytest.raises(ValueError, match=r"no file name in common.*\(3 vs 4\)"):
        discover_pairs(tmp_path / "Test100")


def test_gopro_sequences_pair_blur_with_sharp_and_prefix_the_sequence(tmp_path: Path) -> None:
    for seq in ("GOPR0372_07_00", "GOPR0384_11_01"):
        for frame in ("000047", "000048"):
            _save(tmp_path / "train" / seq / "blur" / f"{frame}.png", 1)
            _save(tmp_path / "train" / seq / "blur_gamma" / f"{frame}.png", 2)
            _save(tmp_path / "train" / seq / "sharp" / f"{frame}.png", 3)
    pairs = discover_pairs(tmp_path / "train")
    assert pairs.names == (
        "GOPR0372_07_00_000047",
        "GOPR0372_07_00_000048",
        "GOPR0384_11_01_000047",
        "GOPR0384_11_01_000048",
    )
    lq_path, gt_path = pairs.paths(3)
    assert lq_path.parts[-3:] == ("GOPR0384_11_01", "blur", "000048.png")
    assert gt_path.parts[-2:] == ("sharp", "000048.png")
    single = discover_pairs(tmp_path / "train" / "GOPR0372_07_00")
    assert single.names == ("000047", "000048")


def test_a_folder_of_neither_layout_names_both_in_one_line(tmp_path: Path) -> None:
    _save(tmp_path / "odd" / "images" / "a.png", 0)
    with pytest.raises(ValueError) as error:
        discover_pairs(tmp_path / "odd")
    message = str(error.value)
    assert "\n" not in message
    assert "input/ beside" in message and "target/" in message
    assert "<sequence>/blur/ + sharp/" in message
    assert not has_paired_layout(tmp_path / "odd")
    with pytest.raises(FileNotFoundError, match="not found"):
        discover_pairs(tmp_path / "missing")


def test_paired_set_uses_the_test_subfolder_and_lists_sets(tmp_path: Path) -> None:
    _save(tmp_path / "GoPro" / "test" / "input" / "x.png", 5)
    _save(tmp_path / "GoPro" / "test" / "target" / "x.png", 6)
    _save(tmp_path / "GoPro" / "train" / "input" / "y.png", 5)
    _save(tmp_path / "GoPro" / "train" / "target" / "y.png", 6)
    assert paired_set("GoPro", tmp_path).names == ("x",)
    with pytest.raises(ValueError, match="unknown paired set 'HIDE'.*GoPro"):
        paired_set("HIDE", tmp_path)


def test_datamodule_reads_paired_sets_and_trains_from_a_layout(tmp_path: Path) -> None:
    for split, n in (("train", 3), ("test", 2)):
        for i in range(n):
            _random_image(tmp_path / "GoPro" / split / "input" / f"{i}.png", 30, 34, i)
            _random_image(tmp_path / "GoPro" / split / "target" / f"{i}.png", 30, 34, 10 + i)
    module = RestorationDataModule(
        degradation=MotionBlur(kernel_size=9),
        train_source=str(tmp_path / "GoPro" / "train"),
        val_sets=("GoPro",),
        test_sets=("GoPro",),
        benchmark_root=str(tmp_path),
        patch_size=8,
        batch_size=2,
        samples_per_epoch=4,
        num_workers=0,
        paired_sets=True,
    )
    module.setup("fit")
    batch = next(iter(module.train_dataloader()))
    assert batch["lq"].shape == batch["gt"].shape == (2, 3, 8, 8)
    sample = module.val_datasets[0][1]
    stored = discover_pairs(tmp_path / "GoPro" / "test").load_pair(1)
    assert torch.equal(sample["lq"], stored[0]) and torch.equal(sample["gt"], stored[1])


def test_training_patches_are_blurred_from_a_larger_region(tmp_path: Path) -> None:
    _random_image(tmp_path / "imgs" / "a.png", 40, 44, 1)
    source = ImageFolder(tmp_path / "imgs")
    blur = MotionBlur(kernel_size=7, length=(6, 12))
    patches = TrainPatches(source, degradation=blur, patch_size=12, samples_per_epoch=4, seed=3)
    sample = patches[2]
    assert sample["lq"].shape == sample["gt"].shape == (3, 12, 12)
    assert torch.equal(patches[2]["lq"], sample["lq"])
    # Re-draw sample 2's randomness in the documented order: image, 18 px region, transform,
    # then the kernel. The patch is the region's centre and its blur uses real neighbours.
    generator = sample_generator(3, 2)
    assert int(torch.randint(1, (1,), generator=generator)) == 0
    top, left = random_aligned_box(40, 44, 18, generator)
    k = int(torch.randint(8, (1,), generator=generator))
    region = dihedral_variant(source.load(0)[:, top : top + 18, left : left + 18], k)
    psf = blur.kernel(generator)
    assert torch.equal(sample["gt"], region[:, 3:15, 3:15])
    blurred = apply_psf(region, psf).clamp(0, 255).round()
    assert torch.equal(sample["lq"], blurred[:, 3:15, 3:15].float())
    # Blurring the 12 px patch alone would replicate-pad its border: different pixels there.
    alone = apply_psf(sample["gt"], psf).clamp(0, 255).round().float()
    assert not torch.equal(alone, sample["lq"])
    with pytest.raises(ValueError, match="margin 3"):
        TrainPatches(source, degradation=blur, patch_size=36, samples_per_epoch=1)[0]


def test_evaluation_with_a_margin_equals_blurring_the_whole_image(tmp_path: Path) -> None:
    _random_image(tmp_path / "imgs" / "a.png", 30, 26, 4)
    source = ImageFolder(tmp_path / "imgs")
    blur = MotionBlur(kernel_size=7, length=(6, 12))
    whole = EvalImages(source, degradation=blur)[0]
    image = source.load(0)
    # Whole images lose the margin (3 px) at every border.
    assert whole["gt"].shape == (3, 24, 20)
    assert torch.equal(whole["gt"], image[:, 3:-3, 3:-3])
    psf = blur.kernel(eval_generator("a", blur))
    expected = apply_psf(image, psf)[:, 3:-3, 3:-3].clamp(0, 255).round()
    assert torch.equal(whole["lq"], expected.float())
    # A crop with room around it keeps its size and is blurred from real neighbours.
    lq, gt = degrade_with_margin(image, (8, 6, 12, 10), blur, eval_generator("a", blur))
    assert gt.shape == (3, 12, 10) and torch.equal(gt, image[:, 8:20, 6:16])
    inner = apply_psf(image[:, 5:23, 3:19], psf)[:, 3:-3, 3:-3].clamp(0, 255).round()
    assert torch.equal(lq, inner.float())
    # Point-wise degradations are untouched by all this.
    noisy = EvalImages(source, degradation=GaussianNoise(10.0))[0]
    assert noisy["gt"].shape == image.shape
    with pytest.raises(ValueError, match="too small"):
        degrade_with_margin(image[:, :6, :6], None, blur, eval_generator("a", blur))


@pytest.mark.slow
def test_evaluate_scores_paired_sets_with_the_task_protocol(tmp_path: Path) -> None:
    from evaluate import evaluate
    from tests.run_helpers import compose_config

    root = tmp_path / "bench"
    for name, (h, w) in {"GoPro": (24, 32), "HIDE": (20, 28)}.items():
        for i in range(2):
            _random_image(root / name / "test" / "target" / f"{i}.png", h, w, i)
            _random_image(root / name / "test" / "input" / f"{i}.png", h, w, 5 + i)
    overrides = [
        "task=deblur",
        "model=identity",
        f"paths.benchmark_root={root}",
        "data.num_workers=0",
    ]
    metrics = evaluate(compose_config("evaluate", overrides, tmp_path))
    assert metrics["meta"]["sets"] == ["GoPro", "HIDE"]
    assert metrics["meta"]["protocol"]["ssim_window"] == "matlab"
    pairs = discover_pairs(root / "HIDE" / "test")
    protocol = Protocol("rgb", 0, "matlab")
    scores = [protocol.score(*pairs.load_pair(i)) for i in range(2)]
    expected = sum(s["psnr"] for s in scores) / 2
    assert metrics["HIDE/psnr"] == pytest.approx(expected, abs=1e-4)
    assert metrics["HIDE/n_images"] == 2


@pytest.mark.parametrize(
    ("overrides", "paired"),
    [
        (["task=deblur"], True),
        (["task=derain"], True),
        (["task=denoise"], False),
        (["task=denoise", "data=paired", "data.train_source=x"], True),
        (["task=deblur", "data.paired_sets=false"], False),
    ],
)
def test_which_configs_score_paired_sets(
    overrides: list[str], paired: bool, tmp_path: Path
) -> None:
    from tests.run_helpers import compose_config

    cfg = compose_config("train", overrides, tmp_path)
    assert cfg.data.paired_sets is paired
