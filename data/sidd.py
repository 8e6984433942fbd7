"""SIDD for MPRNet's denoising recipe: training patches and the validation blocks as PNG pairs.

**Training patches.** The official ``Denoising/generate_patches_SIDD.py`` cuts 300 patches of
256 x 256 from each of SIDD-Medium's 320 sRGB pairs (96,000 pairs), each at a uniformly random
top-left corner ``(r, c)`` with ``0 <= r < H - 256`` and ``0 <= c < W - 256`` (numpy's
``randint(0, H - 256)``: the last row and column are never a corner), drawn with replacement,
the same window from the noisy and the ground-truth image. ``cut_pair`` does the same with a
seeded generator per image (``seed`` and the image's name), so a rerun writes the same
patches; the official script is unseeded. It writes ``input/`` + ``groundtruth/``; we write
``input/`` + ``target/``, the folders the official loaders (and ours) read. Patches are named
``<image>_<k>.png`` (e.g. ``0001_SRGB_010_001.png``), where the script numbers images in
natural order (``1_1.png``).

**Validation blocks.** ``ValidationNoisyBlocksSrgb.mat`` and ``ValidationGtBlocksSrgb.mat`` hold
arrays of the same names, uint8 ``[40, 32, 256, 256, 3]`` (image, block, row, column, RGB), read
with ``scipy.io.loadmat`` as the official ``test_SIDD.py`` does; block ``(i, k)`` becomes
``input/`` and ``target/`` ``<i+1:04d>_<k+1:02d>.png``, the names under which ``test_SIDD.py``
saves its results.
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image, UnidentifiedImageError

#: zlib level of the written PNGs (OpenCV's default, which the official script uses).
PNG_COMPRESS_LEVEL = 3


def decode_rgb(data: bytes, label: str) -> np.ndarray:
    """``[H, W, 3]`` uint8 of an 8-bit RGB image file's bytes."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.mode != "RGB":
                raise ValueError(f"{label} is not an 8-bit RGB image (Pillow mode {image.mode!r})")
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"cannot decode {label}: {error} (a damaged file?)") from error


def save_png(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG", compress_level=PNG_COMPRESS_LEVEL)


def patch_corners(
    height: int, width: int, size: int, count: int, rng: np.random.Generator
) -> np.ndarray:
    """``[count, 2]`` top-left corners (row, col), as the official script draws them."""
    if height <= size or width <= size:
        raise ValueError(
            f"a {width}x{height} image is too small for {size} px patches (the official "
            f"script needs more than {size} pixels per side)"
        )
    rows = rng.integers(0, height - size, count)
    cols = rng.integers(0, width - size, count)
    return np.stack([rows, cols], axis=1)


def cut_pair(
    noisy: bytes,
    gt: bytes,
    name: str,
    out_dir: Path,
    size: int,
    count: int,
    seed: int,
    labels: tuple[str, str] = ("noisy image", "ground truth"),
) -> int:
    """Write ``count`` patch pairs of one image pair into ``out_dir/input|target``; returns
    ``count``. The corners depend only on ``seed`` and ``name``."""
    noisy_rgb, gt_rgb = decode_rgb(noisy, labels[0]), decode_rgb(gt, labels[1])
    if noisy_rgb.shape != gt_rgb.shape:
        raise ValueError(
            f"{labels[0]} is {noisy_rgb.shape[1]}x{noisy_rgb.shape[0]} but {labels[1]} is "
            f"{gt_rgb.shape[1]}x{gt_rgb.shape[0]}; a pair must have one size"
        )
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    corners = patch_corners(noisy_rgb.shape[0], noisy_rgb.shape[1], size, count, rng)
    digits = len(str(count))
    for k, (row, col) in enumerate(corners, start=1):
        window = (slice(row, row + size), slice(col, col + size))
        file_name = f"{name}_{k:0{digits}d}.png"
        save_png(noisy_rgb[window], out_dir / "input" / file_name)
        save_png(gt_rgb[window], out_dir / "target" / file_name)
    return count


def load_blocks(data: bytes, key: str, label: str) -> np.ndarray:
    """The uint8 array ``key`` of a MATLAB (v5) .mat file's bytes."""
    try:
        content = scipy.io.loadmat(io.BytesIO(data), variable_names=[key])
    except NotImplementedError as error:  # scipy's answer to MATLAB v7.3 (HDF5) files
        raise ValueError(
            f"{label} is a MATLAB v7.3 (HDF5) file, which scipy.io cannot read; the official "
            "file is an older MAT file: download it again, or re-save it in MATLAB with "
            "save(..., '-v7')"
        ) from error
    except (ValueError, OSError, TypeError) as error:
        raise ValueError(f"cannot read {label} as a MATLAB .mat file: {error}") from error
    if key not in content:
        names = sorted(name for name, _, _ in scipy.io.whosmat(io.BytesIO(data))) or ["none"]
        raise ValueError(f"{label} holds no array {key!r} (it holds {', '.join(names)})")
    return np.asarray(content[key])


def write_blocks(
    noisy: bytes,
    gt: bytes,
    out_dir: Path,
    shape: tuple[int, ...],
    keys: tuple[str, str],
    labels: tuple[str, str],
) -> int:
    """Write every block of the two .mat files as ``input/`` and ``target/`` PNG pairs;
    both arrays must be uint8 of ``shape``. Returns the number of pairs."""
    arrays = []
    for data, key, label in zip((noisy, gt), keys, labels, strict=True):
        blocks = load_blocks(data, key, label)
        if blocks.dtype != np.uint8 or blocks.shape != tuple(shape):
            raise ValueError(
                f"{label}: {key} is {blocks.dtype} {list(blocks.shape)}, the official file is "
                f"uint8 {list(shape)} (images x blocks x height x width x RGB)"
            )
        arrays.append(blocks)
    for i in range(shape[0]):
        for k in range(shape[1]):
            name = f"{i + 1:04d}_{k + 1:02d}.png"
            save_png(arrays[0][i, k], out_dir / "input" / name)
            save_png(arrays[1][i, k], out_dir / "target" / name)
    return shape[0] * shape[1]
