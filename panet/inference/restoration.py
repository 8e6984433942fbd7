"""Evaluation-time inference: range conversion, whole image / chop / tiles, ×8 self-ensemble.

``restore`` is the one place where a batch on the project's 0–255 scale enters a network and
comes back (``net_in = lq * net.pixel_range / 255``); evaluation and the restore command
both go through it. How each mode maps to published numbers:

* ``mode="chop"``: the authors' evaluation (``forward_chop``); use it to reproduce the paper's
  tables (shave 10; ``min_size`` 6,800 for colour denoising, 6,400 for the other tasks).
* ``self_ensemble=True``: the "+" rows (×8 flips/transposes averaged, the authors' ``forward_x8``),
  combined with chop exactly as the authors do (chop runs inside each of the 8 variants).
* ``mode="tiles"``: batched, seam-free tiles for arbitrary user images; ``mode="full"``: one call
  on the whole image (only for images that fit in memory; attention then sees everything, so
  numbers differ slightly from the paper's).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, Literal

import torch
from torch import Tensor, nn

from panet.inference.chop import chop
from panet.inference.ensemble import self_ensemble as _self_ensemble
from panet.inference.tiles import tiles
from panet.models.registry import network_channels

Mode = Literal["full", "chop", "tiles"]
MODES: tuple[str, ...] = ("full", "chop", "tiles")


def _check_options(mode: str, shave: int, min_size: int, tile: int, overlap: int, batch: int):
    if mode not in MODES:
        raise ValueError(f"unknown inference mode {mode!r}; choose one of {MODES}")
    if shave < 0 or min_size < 1:
        raise ValueError(f"chop needs shave >= 0 and min_size >= 1; got {shave}, {min_size}")
    if tile < 1 or batch < 1 or not 0 <= overlap < tile:
        raise ValueError(
            "tiles needs tile >= 1, batch_size >= 1 and 0 <= overlap < tile; got "
            f"tile={tile}, overlap={overlap}, batch_size={batch}"
        )


def network_forward(
    net: Callable[[Tensor], Tensor],
    *,
    scale: int = 1,
    mode: Mode = "full",
    self_ensemble: bool = False,
    shave: int = 10,
    min_size: int = 6800,
    tile: int = 128,
    overlap: int = 16,
    batch_size: int = 4,
) -> Callable[[Tensor], Tensor]:
    """The forward function ``[B, C, H, W] -> [B, C', s*H, s*W]`` for a mode, in the net's range.

    No range conversion and no ``no_grad`` here (see :func:`restore`); useful for composing the
    authors' evaluation with any callable.
    """
    _check_options(mode, shave, min_size, tile, overlap, batch_size)
    forward: Callable[[Tensor], Tensor]
    if mode == "chop":
        forward = functools.partial(chop, net, scale=scale, shave=shave, min_size=min_size)
    elif mode == "tiles":
        forward = functools.partial(
            tiles, net, scale=scale, tile=tile, overlap=overlap, batch_size=batch_size
        )
    else:
        forward = net
    if self_ensemble:
        return functools.partial(_self_ensemble, forward)
    return forward


@contextlib.contextmanager
def _eval_mode(net: nn.Module) -> Iterator[None]:
    was_training = net.training
    net.eval()
    try:
        yield
    finally:
        net.train(was_training)


def restore(
    net: nn.Module,
    lq: Tensor,
    *,
    mode: Mode = "full",
    self_ensemble: bool = False,
    shave: int = 10,
    min_size: int = 6800,
    tile: int = 128,
    overlap: int = 16,
    batch_size: int = 4,
) -> Tensor:
    """Restore a batch with a network: range conversion, chosen tiling, optional self-ensemble.

    Args:
        net: network exposing ``pixel_range`` (1.0 or 255.0) and ``scale``; run in eval mode
            (its previous mode is restored afterwards) without gradients.
        lq: ``[B, C, H, W]`` float, 0–255, RGB (C=3) or grey/Y (C=1). A grey batch given to a
            3-channel network (``arch_args["n_colors"] == 3``) is replicated to 3 identical
            channels and the 3 output channels are averaged back to 1 (a grey photo through a
            colour denoiser); a colour batch for a 1-channel network is an error (convert it
            to Y first, as the CAR task does).
        mode, shave, min_size, tile, overlap, batch_size: see :func:`network_forward`.
        self_ensemble: average over the 8 flips/transposes (the paper's "+").

    Returns:
        ``[B, C, s*H, s*W]`` float32 on the 0–255 scale, same colour space as ``lq``, on
        ``lq``'s device; NOT clamped or rounded (the evaluation protocol quantizes).
    """
    if lq.dim() != 4:
        raise ValueError(f"restore expects lq shaped [B, C, H, W]; got {tuple(lq.shape)}")
    expected = network_channels(net)
    grey_through_colour = expected == 3 and lq.shape[1] == 1
    if expected is not None and lq.shape[1] != expected and not grey_through_colour:
        raise ValueError(
            f"the network takes {expected}-channel images but lq has {lq.shape[1]} channels; "
            + (
                "convert RGB to the Y channel first (panet.imaging.color.rgb_to_y)"
                if expected == 1
                else "give it RGB images"
            )
        )
    pixel_range = float(getattr(net, "pixel_range", 255.0))
    forward = network_forward(
        net,
        scale=int(getattr(net, "scale", 1)),
        mode=mode,
        self_ensemble=self_ensemble,
        shave=shave,
        min_size=min_size,
        tile=tile,
        overlap=overlap,
        batch_size=batch_size,
    )
    parameter = next(iter(net.parameters()), None)
    device = parameter.device if parameter is not None else lq.device
    x = lq.to(device=device, dtype=torch.float32)
    if grey_through_colour:
        x = x.expand(-1, 3, -1, -1)
    with torch.no_grad(), _eval_mode(net):
        # Same two multiplications as the authors' loader (x * rgb_range/255) and saver.
        y = forward(x * (pixel_range / 255)) * (255 / pixel_range)
    if grey_through_colour:
        y = y.mean(dim=1, keepdim=True)
    return y.to(lq.device)


def describe_inference(
    *,
    mode: Mode = "full",
    self_ensemble: bool = False,
    shave: int = 10,
    min_size: int = 6800,
    tile: int = 128,
    overlap: int = 16,
    batch_size: int = 4,
) -> dict[str, Any]:
    """How images were run, for ``metrics.json`` meta; options of other modes are ``None``.

    ``batch_size`` is not recorded: it does not change the result.
    """
    _check_options(mode, shave, min_size, tile, overlap, batch_size)
    is_chop, is_tiles = mode == "chop", mode == "tiles"
    return {
        "mode": mode,
        "self_ensemble": bool(self_ensemble),
        "shave": shave if is_chop else None,
        "min_size": min_size if is_chop else None,
        "tile": tile if is_tiles else None,
        "overlap": overlap if is_tiles else None,
    }
