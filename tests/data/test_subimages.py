"""Sub-image preparation: windows cover every pixel, files hold exact crops, and training on
them gives the same batches with and without the decoded cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from data.cache import MappedImages
from data.datasets import TrainPatches
from data.degradations import GaussianNoise
from data.prepare_subimages import main, prepare_subimages, subimage_boxes, window_starts
from data.sources import ImageFolder
from panet.imaging.io import read_image_uint8


def test_window_starts_cover_the_axis() -> None:
    assert window_starts(1356, 480, 240) == [0, 240, 480, 720, 876]  # DIV2K's short side
    assert window_starts(2040, 480, 240) == [0, 240, 480, 720, 960, 1200, 1440, 1560]
    assert window_starts(720, 480, 240) == [0, 240]  # exact fit: no extra window
    assert window_starts(300, 480, 240) == [0]
    with pytest.raises(ValueError, match="size and step must be positive"):
        window_starts(10, 4, 0)


@pytest.mark.parametrize(("height", "width"), [(70, 53), (20, 90), (32, 32)])
def test_boxes_cover_every_pixel(height: int, width: int) -> None:
    covered = torch.zeros(height, width, dtype=torch.int32)
    for top, left, h, w in subimage_boxes(height, width, 32, 16):
        assert top + h <= height and left + w <= width
        covered[top : top + h, left : left + w] += 1
    assert int(covered.min()) >= 1


@pytest.fixture
def large(tmp_path: Path) -> Path:
    root = tmp_path / "large"
    root.mkdir()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (70, 53, 3), dtype=np.uint8)).save(root / "x.png")
    Image.fromarray(rng.integers(0, 256, (45, 64), dtype=np.uint8)).save(root / "g.png")
    return root


@pytest.mark.parametrize("image_format", ["png", "bmp"])
def test_sub_images_are_exact_crops(large: Path, tmp_path: Path, image_format: str) -> None:
    out = tmp_path / "sub"
    count = prepare_subimages(large, out, size=32, step=16, workers=0, image_format=image_format)
    files = sorted(out.glob(f"*.{image_format}"))
    assert (
        count
        == len(files)
        == len(subimage_boxes(70, 53, 32, 16)) + len(subimage_boxes(45, 64, 32, 16))
    )
    originals = {p.stem: read_image_uint8(p) for p in large.glob("*.png")}
    for path in files:
        stem, y, x = path.stem.rsplit("_", 2)
        top, left = int(y[1:]), int(x[1:])
        piece = read_image_uint8(path)
        whole = originals[stem]
        expected = whole[:, top : top + piece.shape[1], left : left + piece.shape[2]]
        assert piece.shape[1:] == (32, 32)
        torch.testing.assert_close(piece, expected, rtol=0, atol=0)


def test_training_on_sub_images_same_batches_with_and_without_cache(
    large: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sub"
    prepare_subimages(large, out, size=32, step=16, workers=0)
    files = ImageFolder(out)
    mapped = MappedImages.build(files, tmp_path / "cache")
    kwargs = dict(degradation=GaussianNoise(30.0), patch_size=16, samples_per_epoch=32, seed=2)
    plain, cached = TrainPatches(files, **kwargs), TrainPatches(mapped, **kwargs)
    for i in range(16):
        a, b = plain[i], cached[i]
        assert a["name"] == b["name"]
        torch.testing.assert_close(a["lq"], b["lq"], rtol=0, atol=0)
        torch.testing.assert_close(a["gt"], b["gt"], rtol=0, atol=0)


def test_command_line(large: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert main([str(large), str(out), "--size", "32", "--step", "32", "--workers", "0"]) == 0
    assert "sub-images" in capsys.readouterr().out
    bmp = [str(large), str(tmp_path / "bmp"), "--size", "32", "--step", "32", "--format", "bmp"]
    assert main(bmp) == 0
    assert len(list((tmp_path / "bmp").glob("*.bmp"))) == len(list(out.glob("*.png")))
    assert main([str(large), str(large)]) == 2  # refuses to write into its source
    assert main([str(tmp_path / "missing"), str(out)]) == 2


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        (["--size", "24"], "size"),
        (["--step", "8"], "step"),
        (["--format", "bmp"], "format"),
        ("other source", "source"),
        ("source gained an image", "source images"),
    ],
)
def test_a_folder_cut_with_other_settings_is_refused_and_left_alone(
    large: Path, tmp_path: Path, change: list[str] | str, setting: str
) -> None:
    out = tmp_path / "sub"
    first = ["--size", "32", "--step", "16", "--workers", "0"]
    assert main([str(large), str(out), *first]) == 0
    before = _files(out)
    source, args = large, first
    if change == "other source":
        source = tmp_path / "other"
        source.mkdir()
        (source / "x.png").write_bytes((large / "x.png").read_bytes())
    elif change == "source gained an image":
        Image.new("RGB", (40, 40)).save(large / "new.png")
    else:
        args = _replace(first, change)
    assert main([str(source), str(out), *args]) == 2
    assert _files(out) == before  # nothing written, nothing removed


def _replace(args: list[str], change: list[str]) -> list[str]:
    flag, value = change
    if flag in args:
        result = list(args)
        result[result.index(flag) + 1] = value
        return result
    return [*args, flag, value]


def test_refusal_names_each_changed_setting(
    large: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sub"
    assert main([str(large), str(out), "--size", "32", "--step", "16", "--workers", "0"]) == 0
    capsys.readouterr()
    assert main([str(large), str(out), "--size", "24", "--step", "12", "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert "size 32 (then) -> 24 (now)" in err and "step 16 (then) -> 12 (now)" in err
    assert str(out) in err and "\n" not in err.strip()


def test_a_folder_not_made_by_the_command_is_refused(large: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub"
    out.mkdir()
    Image.new("RGB", (8, 8)).save(out / "holiday.png")
    with pytest.raises(ValueError, match=r"holds 1 file\(s\) .*not made by"):
        prepare_subimages(large, out, size=32, step=16, workers=0)
    assert sorted(p.name for p in out.iterdir()) == ["holiday.png"]


def test_the_same_command_again_completes_or_repeats_the_cut(large: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub"
    count = prepare_subimages(large, out, size=32, step=16, workers=0)
    before = _files(out)
    assert prepare_subimages(large, out, size=32, step=16, workers=0) == count
    assert _files(out) == before
    # An interrupted cut (some files missing) is completed by the same command.
    victim = sorted(out.glob("*.png"))[0]
    victim.unlink()
    assert prepare_subimages(large, out, size=32, step=16, workers=0) == count
    assert _files(out) == before
