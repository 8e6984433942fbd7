"""Where clean (and, for real degradations, degraded) images come from.

A source is an ordered, named collection of images: `names[i]` is the file stem (e.g.
"kodim01"), `load(i)` decodes image i as float32 [C, H, W], 0–255, C = 1 (grey) or 3 (RGB), and
`load_uint8(i)` gives the same pixels as uint8 (training crops first and converts only the
patch; the result may share memory with a cache and must not be modified).
Sources:
- `ImageFolder(root)`: every image file directly inside a folder (not recursive), sorted.
- `benchmark_set(name, root)`: the folder `root/name`, or `root/name/HR` when it exists.
- `embedded_default(part)`: natural colour photographs shipped inside scikit-image, so a quick
  start needs no download; `part="train"` (training) or `"held_out"` (the quick-start
  evaluation set), which never share a photograph.
- `PairedFolders(lq_root, gt_root)`: degraded and clean images paired by
  `data.pairs.pair_folders` (by file name), for real (not synthesized) degradations.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from data.pairs import PairedFiles, pair_folders
from panet.imaging.io import IMAGE_EXTENSIONS, is_image_file, read_image_uint8

# Natural RGB photographs stored as files in skimage/data (no download needed). Synthetic,
# microscopy, text and greyscale images are left out on purpose.
EMBEDDED_FILES: tuple[str, ...] = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "hubble_deep_field.jpg",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "rocket.jpg",
)
# Held out from training so that quick-start validation/test scores measure generalization:
# a cat (fur, whiskers) and a cup on a table (smooth shading, sharp edges) are varied natural
# content unlike the other photographs. The two motorcycle views are a stereo pair of one
# scene, so both stay on the training side.
EMBEDDED_HELD_OUT: tuple[str, ...] = ("chelsea.png", "coffee.png")
EMBEDDED_TRAIN: tuple[str, ...] = tuple(f for f in EMBEDDED_FILES if f not in EMBEDDED_HELD_OUT)
EMBEDDED_PARTS: dict[str, tuple[str, ...]] = {
    "train": EMBEDDED_TRAIN,
    "held_out": EMBEDDED_HELD_OUT,
}
EMBEDDED_NAME = "embedded"


class ImageFiles:
    """An ordered list of image files with names; optionally keeps decoded images in memory.

    Args:
        paths: image files; their stems are the image names and must be unique.
        cache: keep each decoded image after its first `load`, as uint8 (a quarter of the
            float32 size; decoding a large PNG per training sample is otherwise the bottleneck).
        label: what the files are, for error messages (e.g. the folder).
    """

    def __init__(self, paths: Sequence[Path], *, cache: bool = False, label: str) -> None:
        self.paths: tuple[Path, ...] = tuple(Path(p) for p in paths)
        self.names: tuple[str, ...] = tuple(p.stem for p in self.paths)
        self.label = label
        self.cache = cache
        self._decoded: dict[int, torch.Tensor] = {}  # uint8 [C, H, W]
        if not self.paths:
            raise ValueError(f"no images in {label}")
        duplicates = sorted({n for n in self.names if self.names.count(n) > 1})
        if duplicates:
            raise ValueError(
                f"{label} holds several files with the same name stem {duplicates}; image "
                f"names must be unique (rename or remove the duplicates)"
            )

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> torch.Tensor:
        """Image `index` as float32 [C, H, W], 0–255, C = 1 (grey) or 3 (RGB)."""
        return self.load_uint8(index).float()

    def load_uint8(self, index: int) -> torch.Tensor:
        """Image `index` as uint8 [C, H, W] (read-only: it may be the cached copy)."""
        if index in self._decoded:
            return self._decoded[index]
        image = read_image_uint8(self.paths[index])
        if self.cache:
            self._decoded[index] = image
        return image


class ImageFolder(ImageFiles):
    """All image files (png/jpg/jpeg/bmp/tif/tiff) directly inside `root`, sorted by name."""

    def __init__(self, root: str | os.PathLike[str], *, cache: bool = False) -> None:
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"image folder not found: {root}")
        files = sorted(p for p in root.iterdir() if p.is_file() and is_image_file(p))
        if not files:
            raise ValueError(
                f"no images in folder {root}: expected files ending in "
                f"{', '.join(IMAGE_EXTENSIONS)} directly inside it (subfolders are not searched)"
            )
        super().__init__(files, cache=cache, label=f"folder {root}")
        self.root = root


def available_sets(root: str | os.PathLike[str]) -> tuple[str, ...]:
    """Names of the sub-folders of a benchmark root (candidate benchmark sets), sorted."""
    root = Path(root)
    if not root.is_dir():
        return ()
    return tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))


def benchmark_set(name: str, root: str | os.PathLike[str]) -> ImageFolder:
    """The clean images of benchmark set `name`: `root/name/HR` if present, else `root/name`."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"benchmark root {root} does not exist; point benchmark_root at the folder that "
            f"holds the sets (e.g. Kodak24/, Set5/HR/)"
        )
    folder = root / name
    if not folder.is_dir():
        raise ValueError(
            f"unknown benchmark set {name!r}: no folder {folder}. Sets available under "
            f"{root}: {', '.join(available_sets(root)) or '(none)'}"
        )
    hr = folder / "HR"
    return ImageFolder(hr if hr.is_dir() else folder)


def embedded_folder() -> Path:
    """scikit-image's data folder, which ships the embedded photographs."""
    import skimage.data

    return Path(skimage.data.__file__).parent


def embedded_default(part: str = "train") -> ImageFiles:
    """One part of the embedded colour photographs (RGB, 300–1000 px), cached in memory.

    `part` is "train" (5 photographs, `EMBEDDED_TRAIN`) or "held_out" (2 photographs,
    `EMBEDDED_HELD_OUT`, never used for training).
    """
    if part not in EMBEDDED_PARTS:
        raise ValueError(f"part must be one of {tuple(EMBEDDED_PARTS)}, got {part!r}")
    folder = embedded_folder()
    paths = [folder / f for f in EMBEDDED_PARTS[part]]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"scikit-image's data folder {folder} lacks {missing}; reinstall scikit-image "
            f"(pip install --force-reinstall scikit-image) or train from an image folder"
        )
    return ImageFiles(paths, cache=True, label=f"the embedded {part} images in {folder}")


class PairedFolders(PairedFiles):
    """Degraded/clean image pairs of two folders, paired by ``data.pairs.pair_folders`` (by
    file name; extensions may differ, e.g. lq .jpg, gt .png; see that function for the rule).

    `names[i]` is the clean file's stem; `load_pair(i)` returns (lq, gt), each float32
    [C, H, W], 0–255.
    """

    def __init__(self, lq_root: str | os.PathLike[str], gt_root: str | os.PathLike[str]) -> None:
        lq, gt, names = pair_folders(lq_root, gt_root)
        label = f"paired folders {lq_root} (LQ) / {gt_root} (GT)"
        super().__init__(lq, gt, names, label=label)
