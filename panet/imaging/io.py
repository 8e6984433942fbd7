"""Reading and writing 8-bit image files as tensors (the data pipeline, evaluation's saved
images and the restore command all use these two functions).

Every image in the project is a float32 tensor [C, H, W] holding integer values in
0–255, with C = 1 (grey) or C = 3 (RGB). Decoding uses Pillow and follows MATLAB's `imread`
conventions that the published benchmark numbers rely on: pixel values are taken as stored
(no EXIF rotation, no colour management). User photos (the restore command) are read with
`read_image_upright` instead, which turns them as their EXIF orientation says, as every photo
viewer shows them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from panet.atomic import atomic_write
from panet.imaging.quantize import quantize_uint8

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

# Pillow modes whose samples do not fit in 8 bits; scaling them down is a choice the user
# must make, because the published protocols score 8-bit images.
_HIGH_DEPTH_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
# Pillow decodes 16-bit RGB PNG/TIFF into mode "RGB" by dropping the low byte; the raw
# mode of the file's tiles ("RGB;16B", "RGB;16L", ...) is the only trace of the real depth.
_HIGH_DEPTH_RAWMODE = re.compile(r";(16|32)")
_FORMATS_WITH_HIDDEN_DEPTH = frozenset({"PNG", "TIFF"})


def is_image_file(path: Path) -> bool:
    """True when the file name has one of the supported extensions (case-insensitive)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS


def read_image(path: str | os.PathLike[str]) -> torch.Tensor:
    """Decode an 8-bit image file into a float32 tensor (see :func:`read_image_uint8`)."""
    return read_image_uint8(path).float()


#: The EXIF tag that tells viewers how to turn the stored pixels, and what each value means.
EXIF_ORIENTATION_TAG = 0x0112
ORIENTATIONS: dict[int, str] = {
    1: "stored upright",
    2: "mirrored left-right",
    3: "rotated 180°",
    4: "mirrored top-bottom",
    5: "mirrored and rotated 90° counter-clockwise",
    6: "rotated 90° clockwise",
    7: "mirrored and rotated 90° clockwise",
    8: "rotated 90° counter-clockwise",
}


def read_image_upright(path: str | os.PathLike[str]) -> tuple[torch.Tensor, int]:
    """Decode a photo as viewers show it: ``(float32 [C, H, W] 0–255, EXIF orientation)``.

    The stored pixels are turned as the file's EXIF Orientation tag says (phones store photos
    sideways and set the tag); the orientation is returned (1 when the file has no tag or is
    stored upright) so the caller can say what was done. Otherwise as :func:`read_image`.
    Benchmark scoring never uses this: the published numbers are computed on stored pixels.
    """
    image, orientation = _decode(Path(path), upright=True)
    return image.float(), orientation


def read_image_uint8(path: str | os.PathLike[str]) -> torch.Tensor:
    """Decode an 8-bit image file into a uint8 tensor (training crops convert only the patch).

    Args:
        path: a PNG, JPEG, BMP or TIFF file.

    Returns:
        uint8 tensor [C, H, W]; C = 1 for grey images and C = 3 for RGB. Palette images
        become RGB (grey palettes stay RGB: they are stored as colour). An alpha channel is
        dropped only when it is fully opaque.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is corrupt or not an image, has a non-opaque alpha channel, or
            has more than 8 bits per sample (16-bit or float), or an unsupported colour mode.
    """
    return _decode(Path(path), upright=False)[0]


def _decode(path: Path, *, upright: bool) -> tuple[torch.Tensor, int]:
    """uint8 [C, H, W] of ``path`` and the EXIF orientation applied (1 when ``upright`` is
    False: the stored pixels)."""
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    orientation = 1
    try:
        with Image.open(path) as image:
            _reject_high_depth(image, path)
            _reject_frames(image, path)
            image.load()
            if upright:
                orientation = int(image.getexif().get(EXIF_ORIENTATION_TAG, 1) or 1)
                if orientation not in ORIENTATIONS:
                    orientation = 1  # an invalid tag: viewers show the stored pixels
                elif orientation != 1:
                    image = ImageOps.exif_transpose(image)
            array = _to_8bit_array(image, path)
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(
            f"cannot decode image {path}: {error}. The file is corrupt, truncated or not an "
            f"image; replace it or remove it from the folder."
        ) from error
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))), orientation


#: Colour modes ``read_image`` turns into grey or RGB (alpha is checked only when decoding).
_READABLE_MODES = frozenset({"L", "RGB", "P", "1", "YCbCr", "LA", "PA", "RGBA"})
#: A JPEG's end-of-image marker lies within this many bytes of the file's end (trailers are
#: short); when it does not, the file is decoded in full to tell truncation from a trailer.
_JPEG_TAIL = 1 << 16


#: Channels of the tensor ``read_image`` makes from each readable mode (palettes become RGB,
#: alpha is dropped).
_MODE_CHANNELS = {"L": 1, "1": 1, "LA": 1, "RGB": 3, "P": 3, "PA": 3, "YCbCr": 3, "RGBA": 3}


@dataclass(frozen=True)
class ImageInfo:
    """What ``read_image`` will make of a file, known from its header: size and channels."""

    height: int
    width: int
    channels: int


def probe_image(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(height, width)`` of an image file that ``read_image`` can decode (see
    :func:`probe_image_info`)."""
    info = probe_image_info(path)
    return info.height, info.width


def probe_image_info(path: str | os.PathLike[str]) -> ImageInfo:
    """Size and channels of an image file that ``read_image`` can decode, from its header: the
    one prober of every input file.

    Cheap (no full decode for PNG, BMP, TIFF or complete JPEGs): opens the header, rejects
    what ``read_image`` would reject (not an image, more than 8 bits per sample, an unsupported
    colour mode, a transparent alpha channel -- only files with alpha are decoded for that)
    and files with several frames (animated or multi-page: only one frame would be used), and
    checks integrity (PNG chunk checksums, a JPEG's end marker).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file cannot be used, with the reason and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        with Image.open(path) as image:
            _reject_high_depth(image, path)
            if image.mode not in _READABLE_MODES:
                raise ValueError(
                    f"{path} uses the unsupported colour mode {image.mode!r}; convert it to "
                    f"8-bit RGB or greyscale (e.g. `magick {path.name} -depth 8 out.png`)."
                )
            _reject_frames(image, path)
            width, height = image.size
            mode, image_format = image.mode, image.format
            may_be_transparent = mode in ("LA", "PA", "RGBA") or (
                mode == "P" and "transparency" in image.info
            )
            image.verify()
        if image_format == "JPEG" and not _has_jpeg_end(path):
            read_image(path)  # decode in full: raises for a truncated file
        elif may_be_transparent:
            read_image_uint8(path)  # decode in full: raises for a transparent alpha channel
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(
            f"cannot decode image {path}: {error}. The file is corrupt, truncated or not an "
            f"image; replace it or remove it from the folder."
        ) from error
    return ImageInfo(height, width, _MODE_CHANNELS[mode])


def _reject_frames(image: Image.Image, path: Path) -> None:
    frames = int(getattr(image, "n_frames", 1))
    if frames > 1:
        raise ValueError(
            f"{path} holds {frames} frames (animated or multi-page); only single-frame images "
            f"are supported: extract the frame you mean (e.g. `magick '{path.name}[0]' "
            f"frame0.png`)."
        )


def _has_jpeg_end(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - _JPEG_TAIL))
        return b"\xff\xd9" in handle.read()


def write_png(img: torch.Tensor, path: str | os.PathLike[str]) -> None:
    """Write an image tensor as an 8-bit PNG, atomically (temporary file + rename).

    Args:
        img: tensor [C, H, W] with C = 1 or 3, values on the 0–255 scale (any float dtype);
            values are clamped to [0, 255] and rounded half away from zero
            (``panet.imaging.quantize``).
        path: destination file; parent folders are created.
    """
    if img.ndim != 3 or img.shape[0] not in (1, 3):
        raise ValueError(
            f"write_png expects a [C,H,W] tensor with C = 1 or 3, got {tuple(img.shape)}"
        )
    array = quantize_uint8(img.detach().cpu()).to(torch.uint8).permute(1, 2, 0).numpy()
    image = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    with atomic_write(path) as handle:
        image.save(handle, format="PNG")


def _reject_high_depth(image: Image.Image, path: Path) -> None:
    rawmodes = [tile.args[0] if isinstance(tile.args, tuple) else tile.args for tile in image.tile]
    hidden = image.format in _FORMATS_WITH_HIDDEN_DEPTH and any(
        isinstance(raw, str) and _HIGH_DEPTH_RAWMODE.search(raw) for raw in rawmodes
    )
    if image.mode in _HIGH_DEPTH_MODES or hidden:
        raise ValueError(
            f"{path} has more than 8 bits per sample (Pillow mode {image.mode!r}, raw "
            f"{rawmodes}); the data pipeline and the published protocols use 8-bit images. "
            f"Convert it to 8 bits first, e.g. `magick {path.name} -depth 8 out.png`."
        )


def _to_8bit_array(image: Image.Image, path: Path) -> np.ndarray:
    """[H, W] (grey) or [H, W, 3] (RGB) uint8 array of a loaded Pillow image."""
    mode = image.mode
    if mode == "P":
        has_alpha = "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
        mode = image.mode
    if mode == "1":
        image, mode = image.convert("L"), "L"
    if mode == "YCbCr":
        image, mode = image.convert("RGB"), "RGB"
    if mode in ("LA", "PA", "RGBA"):
        alpha = np.asarray(image.getchannel("A"))
        if alpha.min() < 255:
            raise ValueError(
                f"{path} has a transparent alpha channel (mode {mode}); restoration needs "
                f"opaque images. Flatten it onto a background first (e.g. `magick "
                f"{path.name} -background white -flatten out.png`); fully opaque alpha "
                f"channels are dropped automatically."
            )
        image = image.convert("L" if mode == "LA" else "RGB")
        mode = image.mode
    if mode not in ("L", "RGB"):
        raise ValueError(
            f"{path} uses the unsupported colour mode {mode!r}; convert it to 8-bit RGB or "
            f"greyscale (e.g. `magick {path.name} -colorspace sRGB -depth 8 out.png`)."
        )
    return np.array(image, dtype=np.uint8)  # a writable copy, so torch can own it
