"""Evaluation-time inference: range conversion, whole image / chop / tiles, ×8 self-ensemble.

``Inference`` holds how images are run (validated once; the ``inference`` config group builds
it) and is itself the ``restore(net, lq)`` callable that validation, ``evaluate.py`` and the
restore command use. ``restore`` is the one place where a batch on the project's 0–255 scale
enters a network and comes back (``net_in = lq * net.pixel_range / 255``). How each mode maps
to published numbers:

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
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from panet.inference.chop import chop
from panet.inference.ensemble import self_ensemble
from panet.inference.padding import network_forward
from panet.inference.tiles import tiles
from panet.models.registry import network_channels

Mode = Literal["full", "chop", "tiles"]
MODES: tuple[str, ...] = ("full", "chop", "tiles")


@dataclass(frozen=True)
class Inference:
    """How whole images go through a network; call it as ``inference(net, lq)``.

    Args:
        mode: "full" (one call), "chop" (the authors' recursive quadrants) or "tiles".
        self_ensemble: average over the 8 flips/transposes (the paper's "+").
        shave: chop's overlap added to each half, in input pixels.
        min_size: chop's piece area (input pixels) below which pieces are run, not split.
        tile, overlap, batch_size: tile side, minimum overlap (input pixels) and tiles per call.
    """

    mode: Mode = "full"
    self_ensemble: bool = False
    shave: int = 10
    min_size: int = 6800
    tile: int = 128
    overlap: int = 16
    batch_size: int = 4

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown inference mode {self.mode!r}; choose one of {MODES}")
        if self.shave < 0 or self.min_size < 1:
            raise ValueError(
                f"chop needs shave >= 0 and min_size >= 1; got {self.shave}, {self.min_size}"
            )
        if self.tile < 1 or self.batch_size < 1 or not 0 <= self.overlap < self.tile:
            raise ValueError(
                "tiles needs tile >= 1, batch_size >= 1 and 0 <= overlap < tile; got "
                f"tile={self.tile}, overlap={self.overlap}, batch_size={self.batch_size}"
            )

    def forward_for(
        self, net: Callable[[Tensor], Tensor], scale: int = 1
    ) -> Callable[[Tensor], Tensor]:
        """The forward function ``[B, C, H, W] -> [B, C', s*H, s*W]`` of this mode, in the net's
        range. No range conversion and no ``no_grad`` here (see :func:`restore`); useful for
        composing the authors' evaluation with any callable."""
        forward: Callable[[Tensor], Tensor]
        if self.mode == "chop":
            forward = functools.partial(
                chop, net, scale=scale, shave=self.shave, min_size=self.min_size
            )
        elif self.mode == "tiles":
            forward = functools.partial(
                tiles,
                net,
                scale=scale,
                tile=self.tile,
                overlap=self.overlap,
                batch_size=self.batch_size,
            )
        else:
            forward = net
        if self.self_ensemble:
            return functools.partial(self_ensemble, forward)
        return forward

    def describe(self) -> dict[str, Any]:
        """How images were run, for ``metrics.json`` meta; options of other modes are ``None``.

        ``batch_size`` is not recorded: it does not change the result.
        """
        is_chop, is_tiles = self.mode == "chop", self.mode == "tiles"
        return {
            "mode": self.mode,
            "self_ensemble": bool(self.self_ensemble),
            "shave": self.shave if is_chop else None,
            "min_size": self.min_size if is_chop else None,
            "tile": self.tile if is_tiles else None,
            "overlap": self.overlap if is_tiles else None,
        }

    def options(self) -> dict[str, Any]:
        """The constructor arguments, as plain values."""
        return asdict(self)

    def __call__(self, net: nn.Module, lq: Tensor) -> Tensor:
        """``restore(net, lq, self)``."""
        return restore(net, lq, self)


@contextlib.contextmanager
def _eval_mode(net: nn.Module) -> Iterator[None]:
    was_training = net.training
    net.eval()
    try:
        yield
    finally:
        net.train(was_training)


def restore(net: nn.Module, lq: Tensor, inference: Inference | None = None) -> Tensor:
    """Restore a batch with a network: range conversion, chosen tiling, optional self-ensemble.

    Args:
        net: network exposing ``pixel_range`` (1.0 or 255.0) and ``scale``; run in eval mode
            (its previous mode is restored afterwards) without gradients. A network that
            returns several outputs is scored on the first; one with ``input_multiple`` gets
            each piece padded to that multiple and cropped back (``panet.inference.padding``).
        lq: ``[B, C, H, W]`` float, 0–255, RGB (C=3) or grey/Y (C=1). A grey batch given to a
            3-channel network (``arch_args["n_colors"] == 3``) is replicated to 3 identical
            channels and the 3 output channels are averaged back to 1 (a grey photo through a
            colour denoiser); a colour batch for a 1-channel network is an error (convert it
            to Y first, as the CAR task does).
        inference: mode and options (default: the whole image, no self-ensemble).

    Returns:
        ``[B, C, s*H, s*W]`` float32 on the 0–255 scale, same colour space as ``lq``, on
        ``lq``'s device; NOT clamped or rounded (the evaluation protocol quantizes). Runs with
        autocast disabled (float32 scores under any mixed-precision training) and in the
        network's parameter dtype.
    """
    if lq.dim() != 4:
        raise ValueError(f"restore expects lq shaped [B, C, H, W]; got {tuple(lq.shape)}")
    expected = network_channels(net)
    grey_through_colour = expected == 3 and lq.shape[1] == 1
    if expected is not None and lq.shape[1] != expected and not grey_through_colour:
        raise ValueError(
            f"the network takes {expected}-channel images but lq has {lq.shape[1]} channels; "
            + (
                "convert RGB to the Y channel first (panet.imaging.color.rgb_to_y_uint8)"
                if expected == 1
                else "give it RGB images"
            )
        )
    pixel_range = float(getattr(net, "pixel_range", 255.0))
    inference = Inference() if inference is None else inference
    forward = inference.forward_for(network_forward(net), scale=int(getattr(net, "scale", 1)))
    parameter = next(iter(net.parameters()), None)
    device = parameter.device if parameter is not None else lq.device
    # The network's own float dtype (float32, or half/double under Lightning's "*-true").
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else None
    x = lq.to(device=device, dtype=dtype or torch.float32)
    if grey_through_colour:
        x = x.expand(-1, 3, -1, -1)
    # Autocast off: under a mixed-precision trainer, validation must score float32 outputs
    # (bfloat16 keeps 8 mantissa bits: up to +-1 grey level at 255).
    with torch.no_grad(), _eval_mode(net), torch.autocast(device.type, enabled=False):
        # Same two multiplications as the authors' loader (x * rgb_range/255) and saver.
        y = forward(x * (pixel_range / 255)) * (255 / pixel_range)
    if grey_through_colour:
        y = y.mean(dim=1, keepdim=True)
    return y.to(device=lq.device, dtype=torch.float32)
