"""What a network's attention looks at: the weights of chosen query pixels of an image.

The networks with attention maps are those holding ``MAPPED_ATTENTIONS`` modules: pyramid
attention (PANet, PA-EDSR, the non-local baseline), whose ``attention_map`` gives one weight map
per pyramid level, and CSNLN's cross-scale attention, whose map covers the copy of its input
downscaled by the up-factor u (the keys of its cross-scale matching).

How an image pixel becomes a query: the image (or a window of it) is the network's input,
padded at the bottom/right to the network's ``input_multiple`` as every runner does
(``panet.inference.padding``). Forward pre-hooks capture the features each attention module
receives at its first call, and the run stops there (``capture_attention_inputs``): the
layers after the last attention module are never computed. Features of size ``Hf x Wf`` from an
input of ``H x W`` pixels put pixel ``(y, x)`` at feature cell ``(floor(y * Hf / H),
floor(x * Wf / W))``. All networks here keep their attention at the input's resolution
(PANet; PA-EDSR and CSNLN at the low resolution of an SR input), so the cell is the pixel
itself, except where a module works on enlarged features (CSNLN x4's second projection, at
2x: the top-left of the pixel's 2x2 cells).

A level map of ``Hl x Wl`` keys covers the whole (padded) input: key ``(i, j)`` stands for the
input pixels of the ``H / Hl x W / Wl`` cell at ``(i, j)`` (``weights_on_input``). Maps come back
on the CPU in float32, whatever the network's device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from panet.attention import PyramidAttention
from panet.attention.cross_scale import CrossScaleAttention
from panet.inference.padding import input_multiple, pad_to_multiple
from panet.models.registry import network_channels

#: Attention modules with ``attention_map(x, query_yx)`` (a list of per-level maps) and
#: ``scales``: pyramid attention and CSNLN's cross-scale attention (one level at 1/u).
MAPPED_ATTENTIONS = (PyramidAttention, CrossScaleAttention)

Window = tuple[int, int, int, int]  # top, left, height, width (image pixels)


class _AllCaptured(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by the last pre-hook to stop the forward pass once every module's input is in."""


def attention_modules(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """The ``MAPPED_ATTENTIONS`` modules of ``net`` with their names, in module order."""
    return [(n, m) for n, m in net.named_modules() if isinstance(m, MAPPED_ATTENTIONS)]


def capture_attention_inputs(
    net: nn.Module, net_input: Tensor, stop_early: bool = True
) -> list[tuple[str, nn.Module, Tensor]]:
    """Run ``net(net_input)`` without gradients and return, for every ``MAPPED_ATTENTIONS``
    module (in module order), its name, the module and the features it received
    (``[B, C, Hf, Wf]``; the first call when a module is called more than once).

    With ``stop_early`` the forward pass ends as soon as every module has been reached (the
    rest of the network is not run); the captured features are the same.
    """
    modules = attention_modules(net)
    captured: dict[str, Tensor] = {}

    def hook_for(name: str):  # noqa: ANN202 - a forward pre-hook closure
        def hook(_module: nn.Module, args: tuple[Any, ...]) -> None:
            captured.setdefault(name, args[0].detach())
            if stop_early and len(captured) == len(modules):
                raise _AllCaptured

        return hook

    handles = [m.register_forward_pre_hook(hook_for(n)) for n, m in modules]
    try:
        with torch.no_grad():
            net(net_input)
    except _AllCaptured:
        pass
    finally:
        for handle in handles:
            handle.remove()
    return [(n, m, captured[n]) for n, m in modules if n in captured]


def feature_cell(point_yx: tuple[int, int], input_hw: tuple[int, int], feature_hw: Sequence[int]):
    """The feature cell ``(row, col)`` of input pixel ``point_yx`` (see the module docstring)."""
    return tuple(
        min(int(p * f // i), f - 1) for p, i, f in zip(point_yx, input_hw, feature_hw, strict=True)
    )


def points_outside(
    points_xy: Sequence[tuple[int, int]], height: int, width: int
) -> list[tuple[int, int]]:
    """The points ``(x, y)`` that are not pixels of a ``height x width`` image."""
    return [(x, y) for x, y in points_xy if not (0 <= x < width and 0 <= y < height)]


def check_points(points_xy: Sequence[tuple[int, int]], height: int, width: int, label: str) -> None:
    """Raise ``ValueError`` naming every point outside the image (all of them at once)."""
    if not points_xy:
        raise ValueError("no query points given; pass at least one x,y")
    outside = points_outside(points_xy, height, width)
    if outside:
        listed = " ".join(f"{x},{y}" for x, y in outside)
        raise ValueError(
            f"{len(outside)} of {len(points_xy)} query point(s) lie outside {label} "
            f"({width}x{height} pixels: x must be in 0..{width - 1}, y in 0..{height - 1}): "
            f"{listed}"
        )


def point_window(
    point_xy: tuple[int, int], height: int, width: int, crop: int | None, multiple: int = 1
) -> Window:
    """The image window the network sees for one point: the whole image (``crop`` None), or a
    ``crop``-pixel square around the point, shifted to lie inside the image and shrunk to a
    multiple of ``multiple`` where the image allows (padding covers the rest)."""
    if crop is None:
        return 0, 0, height, width
    x, y = point_xy
    h, w = min(height, crop), min(width, crop)
    h = max(min(h, multiple), h - h % multiple)
    w = max(min(w, multiple), w - w % multiple)
    top = min(max(y - h // 2, 0), height - h)
    left = min(max(x - w // 2, 0), width - w)
    return top, left, h, w


@dataclass(frozen=True)
class ModuleMaps:
    """The attention weights of one query pixel in one attention module.

    Attributes:
        module: the module's name in the network (e.g. ``body.4``).
        kind: ``"pyramid"`` or ``"cross-scale"``.
        scales: scale of each level relative to the module's input features.
        feature_hw: size of the features the module received.
        feature_yx: the query's feature cell.
        maps: per level, ``[Hl, Wl]`` float32 weights (CPU); all levels together sum to 1.
        window: the image window (top, left, h, w) the network was run on.
        input_hw: the network input's size (the window padded to ``input_multiple``).
    """

    module: str
    kind: str
    scales: tuple[float, ...]
    feature_hw: tuple[int, int]
    feature_yx: tuple[int, int]
    maps: tuple[Tensor, ...]
    window: Window
    input_hw: tuple[int, int]

    def shares(self) -> list[float]:
        """Each level's share of the total weight."""
        return [float(m.sum()) for m in self.maps]

    def weights_on_input(self, level: int) -> Tensor:
        """Level ``level``'s weights spread over the window's pixels, ``[h, w]``: each key's
        weight on every pixel of its cell (nearest), the padding cut off."""
        grid = self.maps[level][None, None]
        spread = F.interpolate(grid, size=self.input_hw, mode="nearest")[0, 0]
        return spread[: self.window[2], : self.window[3]]

    def peak_xy(self, level: int) -> tuple[int, int]:
        """Image pixel ``(x, y)`` at the centre of the strongest key of level ``level``."""
        level_map = self.maps[level]
        row, col = divmod(int(level_map.argmax()), level_map.shape[1])
        y = (row + 0.5) * self.input_hw[0] / level_map.shape[0]
        x = (col + 0.5) * self.input_hw[1] / level_map.shape[1]
        top, left, h, w = self.window
        return left + min(int(x), w - 1), top + min(int(y), h - 1)


def network_input(net: nn.Module, image: Tensor) -> Tensor:
    """``[1, C, H', W']`` input for ``net`` from an image ``[C, H, W]`` on the 0–255 scale: in
    the network's range (``pixel_range``), device and dtype, a grey image copied to 3 channels
    for a colour network, padded to the network's ``input_multiple``."""
    if image.dim() != 3:
        raise ValueError(f"expected an image [C, H, W], got {tuple(image.shape)}")
    channels = network_channels(net)
    if channels == 3 and image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    if channels is not None and image.shape[0] != channels:
        raise ValueError(
            f"the network takes {channels}-channel images but the image has {image.shape[0]}"
        )
    parameter = next(iter(net.parameters()), None)
    device = parameter.device if parameter is not None else image.device
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else None
    scale = float(getattr(net, "pixel_range", 255.0)) / 255.0
    x = (image.float() * scale)[None].to(device=device, dtype=dtype or torch.float32)
    return pad_to_multiple(x, input_multiple(net))


def _kind(module: nn.Module) -> str:
    return "cross-scale" if isinstance(module, CrossScaleAttention) else "pyramid"


def maps_in_window(
    net: nn.Module, image: Tensor, window: Window, points_yx: Sequence[tuple[int, int]]
) -> list[list[ModuleMaps]]:
    """For each point (image pixels, inside ``window``), the maps of every attention module
    when the network sees ``image[:, window]``: one forward pass for all the points."""
    top, left, h, w = window
    net_input = network_input(net, image[:, top : top + h, left : left + w])
    input_hw = (int(net_input.shape[-2]), int(net_input.shape[-1]))
    captured = capture_attention_inputs(net, net_input)
    results: list[list[ModuleMaps]] = []
    for y, x in points_yx:
        per_module = []
        for name, module, features in captured:
            feature_hw = (int(features.shape[-2]), int(features.shape[-1]))
            cell = feature_cell((y - top, x - left), input_hw, feature_hw)
            maps = module.attention_map(features[:1], cell)
            per_module.append(
                ModuleMaps(
                    module=name,
                    kind=_kind(module),
                    scales=tuple(float(s) for s in module.scales),
                    feature_hw=feature_hw,
                    feature_yx=cell,
                    maps=tuple(m[0].float().cpu() for m in maps),
                    window=window,
                    input_hw=input_hw,
                )
            )
        results.append(per_module)
    return results


def attention_at_points(
    net: nn.Module,
    image: Tensor,
    points_xy: Sequence[tuple[int, int]],
    crop: int | None = None,
    label: str = "the image",
) -> list[list[ModuleMaps]]:
    """The attention maps of ``net`` for each query pixel ``(x, y)`` of ``image``.

    Args:
        net: a network in eval mode with at least one ``MAPPED_ATTENTIONS`` module.
        image: ``[C, H, W]`` on the 0–255 scale, already in the colour space the network takes.
        points_xy: query pixels ``(x, y)``; all must lie inside the image.
        crop: ``None``: the network sees the whole image (one forward pass for all points);
            else it sees a ``crop``-pixel square around each point (one pass per point).
        label: how messages name the image.

    Returns:
        Per point, one ``ModuleMaps`` per attention module, in module order.
    """
    if not attention_modules(net):
        raise ValueError(
            f"{type(net).__name__} has no pyramid attention or cross-scale attention module, "
            "so it has no attention maps (networks with them: panet, including the non-local "
            "variant, pa_edsr and csnln)"
        )
    if crop is not None and crop < 1:
        raise ValueError(f"crop must be >= 1 pixel, got {crop}")
    height, width = image.shape[-2:]
    check_points(points_xy, height, width, label)
    if crop is None:
        return maps_in_window(net, image, (0, 0, height, width), [(y, x) for x, y in points_xy])
    multiple = input_multiple(net)
    results = []
    for x, y in points_xy:
        window = point_window((x, y), height, width, crop, multiple)
        results += maps_in_window(net, image, window, [(y, x)])
    return results
