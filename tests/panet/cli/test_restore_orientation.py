"""EXIF orientation: the restore command shows user photos upright (as every photo viewer
does) and writes them upright, saying so once per image; benchmark scoring keeps the stored
pixels (MATLAB's ``imread`` convention, which the published numbers use)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from data.sources import ImageFolder
from panet.cli.restore import main
from panet.imaging.io import probe_image, read_image
from tests.panet.cli.test_restore import restore_args, tiny_panet

#: Every EXIF orientation that changes the pixels (1 = stored upright).
TURNING = (2, 3, 4, 5, 6, 7, 8)


def write_tagged(path: Path, orientation: int, h: int = 12, w: int = 16) -> Path:
    """A photo stored h x w with EXIF Orientation ``orientation``."""
    pixels = np.random.default_rng(orientation).integers(0, 256, (h, w, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    options = {"quality": 95} if path.suffix == ".jpg" else {}
    Image.fromarray(pixels).save(path, exif=exif, **options)
    return path


def upright_copy(tagged: Path, folder: Path) -> Path:
    """What a photo viewer shows, as an untagged PNG."""
    folder.mkdir(exist_ok=True)
    with Image.open(tagged) as image:
        shown = ImageOps.exif_transpose(image)
    path = folder / f"{tagged.stem}.png"
    shown.save(path)
    return path


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_every_orientation_is_restored_and_written_upright_and_said_once(
    tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = tiny_panet(tmp_path)
    photos = tmp_path / "photos"
    photos.mkdir()
    tagged = [write_tagged(photos / f"o{o}{suffix}", o) for o in (1, *TURNING)]
    upright = [upright_copy(p, tmp_path / "upright") for p in tagged]

    assert main(restore_args(ckpt, "denoise", [photos], tmp_path / "out", "--mode", "full")) == 0
    err = capsys.readouterr().err
    assert main(restore_args(ckpt, "denoise", upright, tmp_path / "ref", "--mode", "full")) == 0

    for photo, reference in zip(tagged, upright, strict=True):
        restored = read_image(tmp_path / "out" / f"{photo.stem}.png")
        expected = read_image(tmp_path / "ref" / reference.name)
        assert restored.shape == expected.shape, photo.name
        assert torch.equal(restored, expected), photo.name
        orientation = int(photo.stem[1:])
        notes = [line for line in err.splitlines() if photo.name in line and "EXIF" in line]
        assert len(notes) == (0 if orientation == 1 else 1), (photo.name, notes)
        if orientation in (5, 6, 7, 8):  # a quarter turn: the written image is 16 x 12
            assert restored.shape[-2:] == (16, 12)
            assert "upright" in notes[0] and f"orientation {orientation}" in notes[0]


def test_benchmark_reading_keeps_the_stored_pixels(tmp_path: Path) -> None:
    folder = tmp_path / "Set1"
    folder.mkdir()
    photo = write_tagged(folder / "p.png", 6)
    with Image.open(photo) as image:
        stored = torch.from_numpy(np.array(image)).permute(2, 0, 1).float()
    assert torch.equal(read_image(photo), stored)
    assert torch.equal(ImageFolder(folder).load(0), stored)
    assert probe_image(photo) == (12, 16)
