"""panet.imaging.io: decoding every supported format, the bad-input catalogue, PNG writing."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from panet.imaging.io import probe_image, read_image, write_png


def _rgb_array(h: int = 6, w: int = 5) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _png16(path: Path, array: np.ndarray) -> None:
    """A 16-bit PNG (grey [H,W] or RGB [H,W,3]); Pillow itself cannot write 16-bit RGB."""
    h, w = array.shape[:2]
    color_type = 2 if array.ndim == 3 else 0
    rows = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".tiff"])
def test_lossless_rgb_formats_round_trip(tmp_path: Path, suffix: str) -> None:
    array = _rgb_array()
    path = tmp_path / f"img{suffix}"
    Image.fromarray(array).save(path)
    img = read_image(path)
    assert img.dtype == torch.float32 and img.shape == (3, 6, 5)
    assert torch.equal(img, torch.from_numpy(array).permute(2, 0, 1).float())


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg"])
def test_jpeg_decodes_to_rgb(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"img{suffix}"
    Image.fromarray(_rgb_array(16, 16)).save(path, quality=90)
    img = read_image(path)
    assert img.shape == (3, 16, 16)
    assert torch.equal(img, torch.from_numpy(np.array(Image.open(path))).permute(2, 0, 1).float())


def test_grey_image_has_one_channel(tmp_path: Path) -> None:
    array = _rgb_array()[:, :, 0]
    Image.fromarray(array, mode="L").save(tmp_path / "g.png")
    img = read_image(tmp_path / "g.png")
    assert img.shape == (1, 6, 5)
    assert torch.equal(img[0], torch.from_numpy(array).float())


def test_palette_image_becomes_rgb(tmp_path: Path) -> None:
    image = Image.new("P", (3, 2))
    image.putpalette([10, 20, 30, 200, 100, 50])
    image.putpixel((1, 1), 1)
    image.save(tmp_path / "p.png")
    img = read_image(tmp_path / "p.png")
    assert img.shape == (3, 2, 3)
    assert img[:, 0, 0].tolist() == [10, 20, 30]
    assert img[:, 1, 1].tolist() == [200, 100, 50]


def test_opaque_alpha_is_dropped(tmp_path: Path) -> None:
    array = _rgb_array()
    rgba = np.concatenate([array, np.full((6, 5, 1), 255, np.uint8)], axis=2)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    assert torch.equal(img, torch.from_numpy(array).permute(2, 0, 1).float())


def test_transparent_alpha_is_rejected(tmp_path: Path) -> None:
    rgba = np.concatenate([_rgb_array(), np.full((6, 5, 1), 128, np.uint8)], axis=2)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "t.png")
    with pytest.raises(ValueError, match=r"t\.png.*transparent alpha.*opaque"):
        read_image(tmp_path / "t.png")


def test_16bit_grey_is_rejected(tmp_path: Path) -> None:
    _png16(tmp_path / "deep.png", np.arange(30, dtype=np.uint16).reshape(6, 5) * 1000)
    with pytest.raises(ValueError, match=r"deep\.png has more than 8 bits.*-depth 8"):
        read_image(tmp_path / "deep.png")


def test_16bit_rgb_is_rejected_not_truncated(tmp_path: Path) -> None:
    # Pillow would silently keep only the high byte of each sample.
    _png16(tmp_path / "deep_rgb.png", _rgb_array().astype(np.uint16) * 257)
    with pytest.raises(ValueError, match=r"deep_rgb\.png has more than 8 bits"):
        read_image(tmp_path / "deep_rgb.png")


def test_corrupt_and_truncated_files_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "garbage.png").write_bytes(b"this is not an image")
    with pytest.raises(ValueError, match=r"garbage\.png.*corrupt"):
        read_image(tmp_path / "garbage.png")
    Image.fromarray(_rgb_array(64, 64)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.png"):
        read_image(tmp_path / "cut.png")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_image(tmp_path / "nope.png")


def test_write_png_rounds_clamps_and_round_trips(tmp_path: Path) -> None:
    img = torch.tensor([[[-3.0, 0.4, 0.6], [254.6, 300.0, 17.0]]])
    write_png(img, tmp_path / "sub" / "out.png")
    assert read_image(tmp_path / "sub" / "out.png").tolist() == [[[0, 0, 1], [255, 255, 17]]]
    rgb = torch.from_numpy(_rgb_array()).permute(2, 0, 1).double()
    write_png(rgb, tmp_path / "rgb.png")
    assert torch.equal(read_image(tmp_path / "rgb.png"), rgb.float())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rgb.png", "sub"]  # no temp files


def test_write_png_rejects_bad_shapes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"C = 1 or 3"):
        write_png(torch.zeros(2, 4, 4), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"\[C,H,W\]"):
        write_png(torch.zeros(1, 3, 4, 4), tmp_path / "x.png")


def test_probe_image_reads_the_size_and_rejects_what_read_image_rejects(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    Image.new("RGB", (7, 5)).save(good)
    assert probe_image(good) == (5, 7)
    truncated = tmp_path / "truncated.png"
    Image.effect_noise((64, 64), 50).convert("RGB").save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:-200])
    jpeg = tmp_path / "cut.jpg"
    Image.effect_noise((64, 64), 50).convert("RGB").save(jpeg, quality=90)
    jpeg.write_bytes(jpeg.read_bytes()[:-400])
    pages = tmp_path / "pages.tif"
    Image.new("L", (4, 4)).save(pages, save_all=True, append_images=[Image.new("L", (4, 4))])
    for path, message in (
        (truncated, "cannot decode image"),
        (jpeg, "cannot decode image"),
        (pages, "holds 2 frames"),
    ):
        with pytest.raises(ValueError, match=message):
            probe_image(path)
