"""Map-style datasets that turn image sources into `{lq, gt, name}` samples.

- `TrainPatches`: random, scale-aligned crops + one of the 8 dihedral transforms + the
  degradation, with all randomness drawn from a generator seeded by (seed, sample index), so a
  sample never depends on the number of DataLoader workers or on which worker made it.
- `EvalImages`: whole images (or, with `crop_size`, a fixed grid of up to 2 x 2
  non-overlapping crops per image, see `crop_grid`), the ground truth cropped to a multiple of
  the scale, degraded with `data.seeding.eval_generator(name, degradation)` so every model, run
  and machine sees the same inputs.

Tensors: `gt` float32 [C, s*h, s*w] and `lq` float32 [C, h, w], 0–255, C = 3 (RGB) or 1
(grey or the Y channel); `name` is the image's file stem, plus "_r{row}c{col}" for a crop.

Colour (`colour`):
- "rgb": training replicates grey sources to 3 channels (a grey photo is a valid colour
  sample); evaluation keeps grey images as 1 channel, because the protocols score
  single-channel sources on their single channel (`panet.inference.restore` runs such an
  image through a colour network by replication and averages the output back to 1 channel).
- "y": RGB images become MATLAB `rgb2ycbcr` Y rounded to uint8 (the CAR protocol); grey
  images stay as they are.

Degradations with a spatial support (`margin` > 0, motion blur) are applied to a region that
extends `margin` pixels beyond the patch or crop and only the interior is kept
(`degrade_with_margin`), so no pair contains pixels blurred from padding; whole evaluation
images lose `margin` pixels at every border for this reason.

Paired sources (`PairedFolders`, `data.pairs.PairedFiles`) already hold the degradation: it
is not applied, but its `scale` must equal the GT/LQ size ratio of every pair.
"""

from __future__ import annotations

from typing import Literal, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from data.cache import MappedImages
from data.degradations import crop_to_multiple
from data.pairs import PairedFiles
from data.seeding import eval_generator
from data.sources import ImageFiles, PairedFolders
from data.transforms import (
    crop,
    random_aligned_box,
)
from panet.imaging.color import rgb_to_y_uint8
from panet.imaging.dihedral import N_DIHEDRAL, dihedral_variant

Colour = Literal["rgb", "y"]
COLOURS: tuple[str, ...] = ("rgb", "y")
Source = ImageFiles | MappedImages | PairedFolders | PairedFiles
#: Sources whose LQ images are stored (not synthesized).
PAIRED_SOURCES = (PairedFolders, PairedFiles)
Sample = dict[str, torch.Tensor | str]
Box = tuple[int, int, int, int]  # top, left, height, width

#: With `crop_size`, `EvalImages` takes at most CROP_GRID x CROP_GRID crops per image.
CROP_GRID = 2


class Degradation(Protocol):
    """What the datasets need from a degradation (see `data.degradations`)."""

    scale: int

    def __call__(self, gt: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...

    def describe(self) -> dict: ...


def to_colour(img: torch.Tensor, colour: Colour, *, grey_to_rgb: bool) -> torch.Tensor:
    """Convert float32 [C, H, W] 0–255 to the task's colour space.

    "rgb": RGB unchanged; grey replicated to 3 channels when `grey_to_rgb`, else kept.
    "y": RGB -> MATLAB rgb2ycbcr Y rounded to uint8 values [1, H, W]; grey unchanged.
    """
    if colour == "y" and img.shape[0] == 3:
        return rgb_to_y_uint8(img)
    if colour == "y":
        return img
    if grey_to_rgb and img.shape[0] == 1:
        return img.expand(3, -1, -1).contiguous()
    return img


def sample_generator(seed: int, index: int) -> torch.Generator:
    """A CPU generator for training sample `index`, well mixed from (seed, index)."""
    state = np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)


def crop_grid(height: int, width: int, size: int) -> list[tuple[str, Box]]:
    """Fixed, non-overlapping evaluation crops of a height x width image: (suffix, box) each.

    The image is cut into an R x C grid of equal cells, R = min(height // size, CROP_GRID) (at
    least 1) and C likewise, and each cell gives its central size x size window (the whole side
    where the image is smaller than `size`). The suffix is "_r{row}c{col}". A pure function of
    the sizes, so every run evaluates the same crops.
    """

    def cells(side: int) -> list[tuple[int, int]]:
        n, extent = max(1, min(side // size, CROP_GRID)), min(size, side)
        return [(i * side // n + (side // n - extent) // 2, extent) for i in range(n)]

    return [
        (f"_r{r}c{c}", (top, left, h, w))
        for r, (top, h) in enumerate(cells(height))
        for c, (left, w) in enumerate(cells(width))
    ]


def check_colour(colour: str) -> None:
    if colour not in COLOURS:
        raise ValueError(f"colour must be one of {COLOURS}, got {colour!r}")


class TrainPatches(Dataset):
    """Random training patches: `{lq [C,p,p], gt [C,p*s,p*s], name}`, 0–255 float32.

    Index i is a global sample number (see `data.samplers.ResumableSampler`): its image, crop,
    transform and degradation noise depend only on (seed, i). `len()` is `samples_per_epoch`.

    Args:
        source: clean images (degraded by `degradation`) or LQ/GT pairs (used as they are).
        degradation: callable (gt [C,H,W] 0–255, generator) -> lq; its `scale` s sets the GT
            patch size p*s.
        patch_size: LQ patch side p (48 in the paper).
        samples_per_epoch: samples per epoch.
        seed: base seed.
        colour: "rgb" or "y" (see the module docstring).
    """

    def __init__(
        self,
        source: Source,
        *,
        degradation: Degradation,
        patch_size: int = 48,
        samples_per_epoch: int = 16000,
        seed: int = 0,
        colour: Colour = "rgb",
    ) -> None:
        check_colour(colour)
        if patch_size < 1 or samples_per_epoch < 1:
            raise ValueError(
                f"patch_size and samples_per_epoch must be positive, got {patch_size} and "
                f"{samples_per_epoch}"
            )
        self.source = source
        self.degradation = degradation
        self.scale = int(degradation.scale)
        self.patch_size = patch_size
        self.samples_per_epoch = samples_per_epoch
        self.seed = seed
        self.colour = colour

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, index: int) -> Sample:
        generator = sample_generator(self.seed, index)
        image = int(torch.randint(len(self.source), (1,), generator=generator))
        name = self.source.names[image]
        # uint8 until the patch is cut: converting a whole 2K image per sample costs ~1000x
        # more than converting the patch.
        if isinstance(self.source, PAIRED_SOURCES):
            lq_full, gt_full = self.source.load_pair_uint8(image)
            _check_pair(lq_full, gt_full, self.scale, self.source.paths(image))
        else:
            lq_full, gt_full = None, self.source.load_uint8(image)
        p, s = self.patch_size, self.scale
        h, w = gt_full.shape[-2] // s, gt_full.shape[-1] // s
        if h < p or w < p:
            raise ValueError(
                f"image {self._path(image)} is {gt_full.shape[-2]}x{gt_full.shape[-1]} pixels, "
                f"smaller than the training patch {p * s}x{p * s} (patch_size {p} x scale "
                f"{s}); remove it from the training set or lower patch_size"
            )
        m = degradation_margin(self.degradation) if lq_full is None else 0
        if m:
            return self._patch_with_margin(gt_full, name, m, generator)
        top, left = random_aligned_box(h, w, p, generator)
        k = int(torch.randint(N_DIHEDRAL, (1,), generator=generator))
        gt = _prepare(crop(gt_full, top * s, left * s, p * s, p * s), k, self.colour)
        if lq_full is None:
            lq = self.degradation(gt, generator)
        else:
            lq = _prepare(crop(lq_full, top, left, p, p), k, self.colour)
        return {"lq": lq, "gt": gt, "name": name}

    def _patch_with_margin(
        self, gt_full: torch.Tensor, name: str, m: int, generator: torch.Generator
    ) -> Sample:
        """A patch of a degradation with a spatial support (blur): the region m pixels larger
        on every side is transformed and degraded, and only its central p x p part is kept."""
        p, side = self.patch_size, self.patch_size + 2 * m
        h, w = gt_full.shape[-2:]
        if h < side or w < side:
            raise ValueError(
                f"image {name} is {h}x{w} pixels, smaller than the training patch {p} plus the "
                f"degradation's margin {m} on each side ({side}x{side}); lower patch_size or "
                f"the degradation's kernel_size"
            )
        top, left = random_aligned_box(h, w, side, generator)
        k = int(torch.randint(N_DIHEDRAL, (1,), generator=generator))
        region = _prepare(crop(gt_full, top, left, side, side), k, self.colour)
        lq = self.degradation(region, generator)
        inner = (..., slice(m, m + p), slice(m, m + p))
        return {"lq": lq[inner].contiguous(), "gt": region[inner].contiguous(), "name": name}

    def _path(self, image: int) -> str:
        if isinstance(self.source, PAIRED_SOURCES):
            return str(self.source.paths(image)[1])
        return str(self.source.paths[image])


class EvalImages(Dataset):
    """Evaluation images: `{lq [C,h,w], gt [C,s*h,s*w], name}`, 0–255 float32.

    Args:
        source: clean images (degraded deterministically) or LQ/GT pairs.
        degradation: callable (gt, generator) -> lq with `scale` and `describe()`.
        colour: "rgb" or "y" (grey images stay 1 channel in both).
        crop_size: None for whole images (benchmark sets); else each clean image gives the
            fixed crops of `crop_grid` with this side (GT pixels), named "{stem}_r{row}c{col}"
            (used to validate quickly on the held-out embedded photographs). Decodes every
            image once, here, to lay out the crops.
    """

    def __init__(
        self,
        source: Source,
        *,
        degradation: Degradation,
        colour: Colour = "rgb",
        crop_size: int | None = None,
    ) -> None:
        check_colour(colour)
        if crop_size is not None and crop_size < 1:
            raise ValueError(f"crop_size must be positive or None, got {crop_size}")
        if crop_size is not None and isinstance(source, PAIRED_SOURCES):
            raise ValueError("crop_size applies to clean images, not to paired LQ/GT folders")
        self.source = source
        self.degradation = degradation
        self.scale = int(degradation.scale)
        self.colour = colour
        self.crop_size = crop_size
        # (source index, sample name, GT crop box or None for the whole image) per sample.
        self.items: list[tuple[int, str, Box | None]] = []
        for index, name in enumerate(source.names):
            if crop_size is None:
                self.items.append((index, name, None))
                continue
            height, width = source.load(index).shape[-2:]
            for suffix, box in crop_grid(height, width, crop_size):
                self.items.append((index, name + suffix, box))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, item: int) -> Sample:
        index, name, box = self.items[item]
        if isinstance(self.source, PAIRED_SOURCES):
            lq, gt = self.source.load_pair(index)
            gt = _check_pair(lq, gt, self.scale, self.source.paths(index))
            return {
                "lq": to_colour(lq, self.colour, grey_to_rgb=False),
                "gt": to_colour(gt, self.colour, grey_to_rgb=False),
                "name": name,
            }
        gt = self.source.load(index)
        if degradation_margin(self.degradation):
            image = to_colour(gt, self.colour, grey_to_rgb=False)
            generator = eval_generator(name, self.degradation)
            lq, gt = degrade_with_margin(image, box, self.degradation, generator)
            return {"lq": lq, "gt": gt, "name": name}
        if box is not None:
            gt = crop(gt, *box)
        gt = crop_to_multiple(to_colour(gt, self.colour, grey_to_rgb=False), self.scale)
        if gt.shape[-1] == 0 or gt.shape[-2] == 0:
            raise ValueError(
                f"image {self.source.paths[index]} is smaller than the scale {self.scale}"
            )
        lq = self.degradation(gt, eval_generator(name, self.degradation))
        return {"lq": lq, "gt": gt, "name": name}


def degradation_margin(degradation: Degradation) -> int:
    """How many pixels around a pixel its degraded value depends on (0 for point-wise ones)."""
    margin = int(getattr(degradation, "margin", 0))
    if margin and int(degradation.scale) != 1:
        raise ValueError("a degradation with a margin must keep the image size (scale 1)")
    return margin


def degrade_with_margin(
    image: torch.Tensor,
    box: Box | None,
    degradation: Degradation,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(lq, gt) of `box` (None: the whole image) for a degradation with a spatial support.

    The box is grown by the degradation's margin m where the image allows, that region is
    degraded, and only pixels at least m inside the region are kept: a crop with room around
    it keeps its size, while a whole image loses m pixels at every border, whose degraded
    values would depend on padding instead of on the scene.
    """
    m = degradation_margin(degradation)
    height, width = image.shape[-2:]
    top, left, h, w = box if box is not None else (0, 0, height, width)
    r_top, r_left = max(0, top - m), max(0, left - m)
    r_bottom, r_right = min(height, top + h + m), min(width, left + w + m)
    region = image[..., r_top:r_bottom, r_left:r_right]
    keep_top, keep_left = max(top, r_top + m), max(left, r_left + m)
    keep_bottom, keep_right = min(top + h, r_bottom - m), min(left + w, r_right - m)
    if keep_bottom <= keep_top or keep_right <= keep_left:
        raise ValueError(
            f"a {height}x{width} image is too small for a degradation with a margin of {m} "
            f"pixels on every side; use larger images or a smaller kernel_size"
        )
    lq = degradation(region, generator)
    keep = (
        ...,
        slice(keep_top - r_top, keep_bottom - r_top),
        slice(keep_left - r_left, keep_right - r_left),
    )
    return lq[keep].contiguous(), region[keep].contiguous()


def _prepare(patch: torch.Tensor, k: int, colour: Colour) -> torch.Tensor:
    """Training patch (any dtype, 0–255): float32, dihedral transform k, then the colour
    conversion (grey -> RGB)."""
    patch = dihedral_variant(patch.float(), k)
    return to_colour(patch, colour, grey_to_rgb=True).contiguous()


def _check_pair(lq: torch.Tensor, gt: torch.Tensor, scale: int, paths: tuple) -> torch.Tensor:
    """The GT of a pair cropped to scale x the LQ size; error if the sizes disagree."""
    lq_path, gt_path = paths
    h, w = lq.shape[-2:]
    if gt.shape[-2] // scale != h or gt.shape[-1] // scale != w or lq.shape[0] != gt.shape[0]:
        raise ValueError(
            f"paired images disagree: LQ {lq_path} is {tuple(lq.shape)} and GT {gt_path} is "
            f"{tuple(gt.shape)}, but the scale is {scale} (GT must be scale x LQ, up to "
            f"scale - 1 extra rows/columns, with the same number of channels)"
        )
    return gt[..., : h * scale, : w * scale]
