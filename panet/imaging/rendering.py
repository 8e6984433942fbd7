"""Turning tensors into viewable pictures: panels, heat maps, overlays, labels, PNG files.

Everything returns ``numpy`` ``uint8`` arrays of shape ``[H, W, 3]`` (RGB), the format both
PIL and ``wandb.Image`` take. No matplotlib: the heat-map colormap is defined here and labels
are drawn with Pillow's built-in font. Used by the picture callbacks (image panels, attention
maps during training) and the attention-map command (``panet.cli.attention_map``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from panet.atomic import atomic_write
from panet.imaging.quantize import quantize_uint8

#: Anchor colours (RGB 0–255) of the heat-map colormap, evenly spaced from 0 to 1: black
#: through purple, red and orange to pale yellow, perceptually ordered like "inferno".
HEAT_ANCHORS: tuple[tuple[int, int, int], ...] = (
    (0, 0, 4),
    (66, 10, 104),
    (147, 38, 103),
    (221, 81, 58),
    (252, 165, 10),
    (252, 255, 164),
)
#: Colour of the query marker: cyan stands out against every colour of ``HEAT_ANCHORS``.
MARKER_RGB: tuple[int, int, int] = (0, 255, 255)
#: Brightness kept by the parts of a picture that an overlay does not cover.
DIMMED = 0.5


def to_rgb_uint8(img: Tensor) -> np.ndarray:
    """``[C, H, W]`` float 0–255 (C = 1 or 3) -> ``[H, W, 3]`` uint8, clamped and rounded."""
    if img.dim() != 3 or img.shape[0] not in (1, 3):
        raise ValueError(f"expected an image [C, H, W] with C = 1 or 3, got {tuple(img.shape)}")
    img = quantize_uint8(img.detach().cpu()).to(torch.uint8)
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    return np.ascontiguousarray(img.permute(1, 2, 0).numpy())


def crop_window(
    height: int, width: int, max_side: int, centre_yx: tuple[int, int] | None = None
) -> tuple[int, int, int, int]:
    """``(top, left, h, w)`` of a window of at most ``max_side`` per side, centred on
    ``centre_yx`` (default: the image centre) and shifted to lie inside the image."""
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    cy, cx = centre_yx if centre_yx is not None else (height // 2, width // 2)
    h, w = min(height, max_side), min(width, max_side)
    top = min(max(cy - h // 2, 0), height - h)
    left = min(max(cx - w // 2, 0), width - w)
    return top, left, h, w


def panel(lq: Tensor, pred: Tensor, gt: Tensor, max_side: int = 256, gap: int = 4) -> np.ndarray:
    """Side-by-side ``input | output | target`` picture, ``[H, 3W + 2 gap, 3]`` uint8.

    Args:
        lq: degraded input ``[C, h, w]`` float 0–255; upsampled (nearest, so the pixels of an
            SR input stay visible) to the target size when smaller.
        pred: network output ``[C, H, W]`` float 0–255.
        gt: clean target ``[C, H, W]`` float 0–255.
        max_side: large images are centre-cropped (same window in all three) to at most
            ``max_side`` pixels per side, so details stay at full resolution.
        gap: white pixels between the tiles.
    """
    if pred.shape[-2:] != gt.shape[-2:]:
        raise ValueError(f"pred {tuple(pred.shape)} and gt {tuple(gt.shape)} differ in size")
    if lq.shape[-2:] != gt.shape[-2:]:
        lq = F.interpolate(lq[None].float(), size=gt.shape[-2:], mode="nearest")[0]
    top, left, h, w = crop_window(gt.shape[-2], gt.shape[-1], max_side)
    tiles = [to_rgb_uint8(t[:, top : top + h, left : left + w]) for t in (lq, pred, gt)]
    return hstack(tiles, gap=gap)


def hstack(tiles: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Tiles ``[Hi, Wi, 3]`` side by side, top-aligned, on a white background."""
    return _stack(tiles, gap, axis=1)


def vstack(rows: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Rows ``[Hi, Wi, 3]`` one below the other, left-aligned, on a white background."""
    return _stack(rows, gap, axis=0)


def _stack(images: Sequence[np.ndarray], gap: int, axis: int) -> np.ndarray:
    """``images`` ``[Hi, Wi, 3]`` uint8 placed one after another along ``axis`` (0 = down,
    1 = across) with ``gap`` white pixels between them, each at the start of the other axis."""
    size = [max(im.shape[0] for im in images), max(im.shape[1] for im in images)]
    size[axis] = sum(im.shape[axis] for im in images) + gap * (len(images) - 1)
    out = np.full((size[0], size[1], 3), 255, dtype=np.uint8)
    offset = 0
    for im in images:
        window = [slice(0, im.shape[0]), slice(0, im.shape[1])]
        window[axis] = slice(offset, offset + im.shape[axis])
        out[tuple(window)] = im
        offset += im.shape[axis] + gap
    return out


def heat_colormap(values: Tensor) -> np.ndarray:
    """``[H, W]`` floats in [0, 1] (clamped) -> ``[H, W, 3]`` uint8 through ``HEAT_ANCHORS``."""
    anchors = torch.tensor(HEAT_ANCHORS, dtype=torch.float32)  # [K, 3]
    position = values.detach().float().cpu().clamp(0, 1) * (len(anchors) - 1)
    lower = position.floor().long().clamp(max=len(anchors) - 2)
    frac = (position - lower).unsqueeze(-1)
    rgb = anchors[lower] * (1 - frac) + anchors[lower + 1] * frac
    return quantize_uint8(rgb).to(torch.uint8).numpy()


def heat_map(weights: Tensor, factor: int, query_yx: tuple[float, float]) -> np.ndarray:
    """One attention map as a coloured picture with the query marked.

    Args:
        weights: ``[Hl, Wl]`` non-negative attention weights of one pyramid level.
        factor: integer enlargement (nearest); use one factor for all levels of a pyramid so
            that the smaller levels look smaller, as they are.
        query_yx: query position in this map's coordinates (row, col), marked by a cyan cross.

    Returns:
        ``[factor*Hl, factor*Wl, 3]`` uint8; colours are normalized by the level's own maximum.
    """
    peak = weights.max().clamp_min(1e-12)
    rgb = heat_colormap(weights / peak)
    rgb = rgb.repeat(factor, axis=0).repeat(factor, axis=1)
    row = int(min(max(query_yx[0], 0), weights.shape[0] - 1) * factor + factor // 2)
    col = int(min(max(query_yx[1], 0), weights.shape[1] - 1) * factor + factor // 2)
    draw_cross(rgb, row, col, arm=max(2, factor * 2))
    return rgb


def enlarge(rgb: np.ndarray, factor: int) -> np.ndarray:
    """``[H, W, 3]`` enlarged ``factor`` times by pixel repetition (nearest), so pixels stay
    visible as squares."""
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    return rgb if factor == 1 else rgb.repeat(factor, axis=0).repeat(factor, axis=1)


def shrink_to(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """``[H, W, 3]`` shrunk (area average) so that its longer side is at most ``max_side``;
    pictures already that small are returned as they are."""
    height, width = rgb.shape[:2]
    if max(height, width) <= max_side:
        return rgb
    ratio = max_side / max(height, width)
    size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BOX))


def relative_weights(weights: Tensor, log_decades: float | None = None) -> Tensor:
    """``weights`` divided by their maximum, in [0, 1]; with ``log_decades`` on a log scale
    instead: the maximum is 1 and ``log_decades`` orders of magnitude below it (and less) 0,
    which shows the long tail of a peaked softmax."""
    relative = weights.detach().float().cpu() / weights.max().clamp_min(1e-30)
    if log_decades is None:
        return relative.clamp(0, 1)
    if log_decades <= 0:
        raise ValueError(f"log_decades must be > 0, got {log_decades}")
    return (1 + relative.clamp_min(1e-30).log10() / log_decades).clamp(0, 1)


def overlay_weights(
    picture: np.ndarray,
    weights: Tensor,
    top: int = 0,
    left: int = 0,
    alpha: float = 0.8,
    log_decades: float | None = None,
) -> np.ndarray:
    """``picture`` with non-negative ``weights`` drawn over a region as a heat map.

    Args:
        picture: ``[H, W, 3]`` uint8 (not modified).
        weights: ``[h, w]`` values for the region whose top-left pixel is (top, left); the
            region must lie inside the picture. Colours are relative to the maximum
            (``relative_weights``; ``log_decades`` for a log scale).
        alpha: opacity of the heat map where the weight is largest; it falls with the
            relative weight, so the picture shows through where the weights are small.

    Returns:
        A new ``[H, W, 3]`` uint8 picture; pixels outside the region keep ``DIMMED`` of their
        brightness, so the region the weights cover stands out.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    h, w = weights.shape
    if top < 0 or left < 0 or top + h > picture.shape[0] or left + w > picture.shape[1]:
        raise ValueError(
            f"a {h}x{w} region at (top {top}, left {left}) does not fit a "
            f"{picture.shape[0]}x{picture.shape[1]} picture"
        )
    relative = relative_weights(weights, log_decades)
    heat = heat_colormap(relative).astype(np.float32)
    opacity = alpha * relative.numpy()[..., None]
    out = picture.astype(np.float32) * DIMMED
    region = picture[top : top + h, left : left + w].astype(np.float32)
    out[top : top + h, left : left + w] = (1 - opacity) * region + opacity * heat
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def draw_box(rgb: np.ndarray, row: int, col: int, half: int, colour=(255, 255, 255)) -> None:
    """Draw the outline of the square of half-side ``half`` centred at (row, col), in place
    (clipped to the picture)."""
    height, width = rgb.shape[:2]
    top, bottom = max(row - half, 0), min(row + half, height - 1)
    left, right = max(col - half, 0), min(col + half, width - 1)
    rgb[top, left : right + 1] = colour
    rgb[bottom, left : right + 1] = colour
    rgb[top : bottom + 1, left] = colour
    rgb[top : bottom + 1, right] = colour


def labelled(picture: np.ndarray, text: str, pad: int = 2) -> np.ndarray:
    """``picture`` below a white strip holding ``text`` (black, Pillow's built-in font); the
    strip is widened when the text is wider than the picture."""
    font = ImageFont.load_default()
    left, top, right, bottom = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox(
        (0, 0), text, font=font
    )
    strip = Image.new(
        "RGB", (max(picture.shape[1], right - left + 2 * pad), bottom - top + 2 * pad), "white"
    )
    ImageDraw.Draw(strip).text((pad - left, pad - top), text, fill=(0, 0, 0), font=font)
    return vstack([np.asarray(strip), picture], gap=0)


def draw_cross(rgb: np.ndarray, row: int, col: int, arm: int) -> None:
    """Draw a ``MARKER_RGB`` plus sign of half-length ``arm`` at (row, col), in place."""
    height, width = rgb.shape[:2]
    rgb[row, max(col - arm, 0) : min(col + arm + 1, width)] = MARKER_RGB
    rgb[max(row - arm, 0) : min(row + arm + 1, height), col] = MARKER_RGB


def save_png(rgb: np.ndarray, path: str | Path) -> Path:
    """Write ``[H, W, 3]`` uint8 to ``path`` (folders created); returns the path."""
    with atomic_write(path) as handle:
        Image.fromarray(rgb).save(handle, format="PNG")
    return Path(path)


def safe_file_stem(name: str) -> str:
    """An image name usable as a file stem: extension dropped, path separators replaced."""
    stem = Path(name).stem if Path(name).suffix else name
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem) or "image"
