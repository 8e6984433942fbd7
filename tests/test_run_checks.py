"""train.py refuses, before it writes to the run folder, what would otherwise be lost or silently
wrong: a resume under another config, a checkpoint of another network, a required key left
unset, a corrupt or too small input image, an unwritable checkpoint folder; it removes stale
temporary files and stops at a non-finite loss without writing non-finite weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from panet.cli.config_checks import ConfigError
from panet.training.finite import NonFiniteLossError
from tests.run_helpers import TINY_CHECKPOINTED, compose_config, with_overrides
from train import train

QUICK = with_overrides(TINY_CHECKPOINTED, "trainer.max_steps=2")


def run(tmp_path: Path, *changes: str, run_dir: Path | None = None) -> dict:
    return train(compose_config("train", with_overrides(QUICK, *changes), tmp_path, run_dir))


def folder_state(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to assert that nothing changed)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def write_images(folder: Path, count: int, size: int = 40) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        pixels = rng.integers(0, 256, (size, size + 4, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:02d}.png")
    return folder


@pytest.mark.slow
def test_resume_under_another_config_is_refused_and_the_folder_kept(tmp_path: Path) -> None:
    run(tmp_path)
    folder = tmp_path / "run"
    before = folder_state(folder)
    with pytest.raises(ConfigError) as refused:
        run(tmp_path, "degradation.sigma=50", "pyramid.levels=2")
    message = str(refused.value)
    assert "degradation.sigma: 30 (saved) -> 50 (now)" in message
    assert "pyramid.levels: 5 (saved) -> 2 (now)" in message
    assert "resume=false" in message and "run_name=" in message
    assert folder_state(folder) == before  # config, checkpoints, metrics all untouched

    # Allowed changes resume; resume=false starts over under the new config.
    assert run(tmp_path, "trainer.max_steps=3", "data.num_workers=1")["step"] == 3
    assert run(tmp_path, "degradation.sigma=50", "resume=false")["step"] == 2
    assert "sigma: 50" in (folder / "config_resolved.yaml").read_text()


@pytest.mark.slow
def test_ckpt_path_of_another_architecture_is_one_clear_line(tmp_path: Path) -> None:
    run(tmp_path, run_dir=tmp_path / "small")
    ckpt = tmp_path / "small" / "checkpoints" / "last.ckpt"
    with pytest.raises(ConfigError) as refused:
        run(tmp_path, "model.n_feats=16", f"ckpt_path={ckpt}", run_dir=tmp_path / "wide")
    message = str(refused.value)
    assert "\n" not in message
    assert f"ckpt_path={ckpt} holds a 'panet' network (n_feats=8)" in message
    assert "builds 'panet' (n_feats=16)" in message
    assert not (tmp_path / "wide").exists()


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        (("data=folder",), "data.train_source"),
        # a plain folder (no input/ + target/ layout) and no LQ folder: nothing to pair with
        (("data=paired", "data.train_source={plain}"), "data.train_lq_source"),
    ],
)
def test_required_keys_stop_the_run_naming_the_key(
    tmp_path: Path, changes: tuple[str, ...], key: str
) -> None:
    plain = write_images(tmp_path / "plain", 2)
    changes = tuple(c.format(plain=plain) for c in changes)
    with pytest.raises(ConfigError, match=rf"^{key} is required and not set: give "):
        run(tmp_path, *changes)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_corrupt_and_small_images_are_all_found_before_training(tmp_path: Path) -> None:
    train_folder = write_images(tmp_path / "train", 6)
    (train_folder / "img03.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    Image.new("RGB", (10, 10)).save(train_folder / "tiny.png")
    bench = write_images(tmp_path / "bench" / "Set2", 2)
    good = (bench / "img01.png").read_bytes()
    (bench / "img01.png").write_bytes(good[: len(good) // 2])  # truncated mid-data
    with pytest.raises(ValueError) as refused:
        run(
            tmp_path,
            "data=folder",
            f"data.train_source={train_folder}",
            f"paths.benchmark_root={tmp_path / 'bench'}",
            "data.val_sets=[embedded]",
            "data.test_sets=[Set2]",
        )
    message = str(refused.value)
    # 7 training, 2 test and the 2 held-out embedded validation photographs.
    assert message.startswith("3 problem(s) among the 11 input images")
    assert f"training: cannot decode image {train_folder / 'img03.png'}" in message
    assert f"training: image {train_folder / 'tiny.png'} is 10x10 pixels" in message
    assert f"test set Set2: cannot decode image {bench / 'img01.png'}" in message
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_unwritable_checkpoint_folder_fails_before_training(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoints").write_text("a file where the folder should be")
    with pytest.raises(PermissionError, match=r"cannot write into .*checkpoints"):
        run(tmp_path)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoints"]


@pytest.mark.slow
def test_stale_temporary_checkpoints_are_removed(tmp_path: Path) -> None:
    checkpoints = tmp_path / "run" / "checkpoints"
    checkpoints.mkdir(parents=True)
    stale = checkpoints / ".tmp-last.ckpt.k1ll3d"
    stale.write_bytes(b"half a checkpoint")
    run(tmp_path)
    assert not stale.exists()
    assert (checkpoints / "last.ckpt").is_file()


@pytest.mark.slow
def test_non_finite_loss_stops_and_no_checkpoint_holds_non_finite_weights(
    tmp_path: Path,
) -> None:
    # An infinite learning rate makes step 1's update infinite; step 2's loss is then NaN.
    with pytest.raises(NonFiniteLossError, match=r"training loss is nan at step 2: "):
        run(tmp_path, "optimizer.lr=inf", "trainer.max_steps=4")
    checkpoints = tmp_path / "run" / "checkpoints"
    for ckpt in checkpoints.glob("*.ckpt"):
        weights = torch.load(ckpt, weights_only=True)["state_dict"]
        assert all(torch.isfinite(w).all() for w in weights.values()), ckpt
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_evaluate_checks_every_test_image_before_the_first(tmp_path: Path) -> None:
    from evaluate import evaluate

    bench = write_images(tmp_path / "bench" / "Set4", 4)
    (bench / "img03.png").write_bytes(b"random bytes, not an image")
    cfg = compose_config(
        "evaluate",
        [
            "model=identity",
            "save_images=true",
            f"paths.benchmark_root={tmp_path / 'bench'}",
            "data.test_sets=[Set4]",
        ],
        tmp_path,
    )
    with pytest.raises(ValueError, match=r"^1 problem\(s\) among the 4 input images") as refused:
        evaluate(cfg)
    assert f"test set Set4: cannot decode image {bench / 'img03.png'}" in str(refused.value)
    assert not (tmp_path / "run" / "images").exists()  # no image was restored
