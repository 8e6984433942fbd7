"""Tests for data.sources: folders, benchmark sets, the embedded default, paired folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from data.sources import (
    EMBEDDED_FILES,
    EMBEDDED_HELD_OUT,
    EMBEDDED_TRAIN,
    ImageFolder,
    PairedFolders,
    benchmark_set,
    embedded_default,
)


def _save(path: Path, size: tuple[int, int] = (8, 6), grey: bool = False, value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0]) if grey else (size[1], size[0], 3)
    Image.fromarray(np.full(shape, value, np.uint8)).save(path)


def test_image_folder_sorted_non_recursive_images_only(tmp_path: Path) -> None:
    for name in ("b.png", "a.JPG", "c.bmp", "d.tiff"):
        _save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    _save(tmp_path / "sub" / "deeper.png")
    folder = ImageFolder(tmp_path)
    assert folder.names == ("a", "b", "c", "d")
    assert len(folder) == 4
    assert folder.load(1).shape == (3, 6, 8)


def test_image_folder_empty_or_missing(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=r"no images in folder .*\.png"):
        ImageFolder(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing"):
        ImageFolder(tmp_path / "missing")


def test_duplicate_stems_are_rejected(tmp_path: Path) -> None:
    _save(tmp_path / "x.png")
    _save(tmp_path / "x.bmp")
    with pytest.raises(ValueError, match=r"same name stem \['x'\]"):
        ImageFolder(tmp_path)


def test_benchmark_set_prefers_hr_subfolder(tmp_path: Path) -> None:
    _save(tmp_path / "Plain" / "p1.png")
    _save(tmp_path / "WithHR" / "HR" / "h1.png")
    _save(tmp_path / "WithHR" / "LR_bicubic" / "X2" / "h1x2.png")
    assert benchmark_set("Plain", tmp_path).names == ("p1",)
    hr = benchmark_set("WithHR", tmp_path)
    assert hr.names == ("h1",) and hr.root == tmp_path / "WithHR" / "HR"


def test_unknown_benchmark_set_lists_available(tmp_path: Path) -> None:
    _save(tmp_path / "Kodak" / "k.png")
    _save(tmp_path / "Set5" / "HR" / "s.png")
    with pytest.raises(ValueError, match=r"unknown benchmark set 'Urban'.*Kodak, Set5"):
        benchmark_set("Urban", tmp_path)
    with pytest.raises(FileNotFoundError, match="benchmark root"):
        benchmark_set("Kodak", tmp_path / "nowhere")


def test_embedded_default_is_cached_natural_colour_photos() -> None:
    source = embedded_default()
    assert source.names == tuple(Path(f).stem for f in EMBEDDED_TRAIN)
    assert len(source) >= 5
    first = source.load(0)
    assert first.shape[0] == 3 and min(first.shape[1:]) >= 256
    assert torch.equal(source.load(0), first) and source.cache  # decoded once, kept in memory


def test_cached_folder_decodes_each_file_once_and_keeps_uint8(tmp_path: Path) -> None:
    _save(tmp_path / "imgs" / "a.png", value=200)
    folder = ImageFolder(tmp_path / "imgs", cache=True)
    first = folder.load(0)
    (tmp_path / "imgs" / "a.png").unlink()  # a second decode would now fail
    again = folder.load(0)
    assert again.dtype == torch.float32 and torch.equal(again, first)
    assert again.unique().tolist() == [200]


def test_embedded_train_and_held_out_parts_are_disjoint() -> None:
    train, held_out = embedded_default("train"), embedded_default("held_out")
    assert set(train.names).isdisjoint(held_out.names)
    assert sorted(EMBEDDED_TRAIN + EMBEDDED_HELD_OUT) == sorted(EMBEDDED_FILES)
    assert held_out.names == ("chelsea", "coffee")
    assert all(held_out.load(i).shape[0] == 3 for i in range(len(held_out)))
    with pytest.raises(ValueError, match="part must be one of"):
        embedded_default("all")


def test_paired_folders_match_by_stem(tmp_path: Path) -> None:
    _save(tmp_path / "lq" / "a.jpg", value=10)
    _save(tmp_path / "lq" / "b.png", value=20)
    _save(tmp_path / "gt" / "a.png", value=11)
    _save(tmp_path / "gt" / "b.png", value=21)
    pairs = PairedFolders(tmp_path / "lq", tmp_path / "gt")
    assert pairs.names == ("a", "b")
    lq, gt = pairs.load_pair(1)
    assert lq.unique().tolist() == [20] and gt.unique().tolist() == [21]


def test_paired_folders_mismatch_lists_missing_names(tmp_path: Path) -> None:
    _save(tmp_path / "lq" / "a.png")
    _save(tmp_path / "lq" / "only_lq.png")
    _save(tmp_path / "gt" / "a.png")
    _save(tmp_path / "gt" / "only_gt.png")
    with pytest.raises(ValueError, match=r"only in lq/: only_lq\.png; only in gt/: only_gt\.png"):
        PairedFolders(tmp_path / "lq", tmp_path / "gt")


@pytest.mark.benchmarks
def test_real_benchmark_sets(benchmark_root: Path) -> None:
    assert len(benchmark_set("Kodak24", benchmark_root)) == 24
    set5 = benchmark_set("Set5", benchmark_root)
    assert set5.root.name == "HR" and len(set5) == 5
