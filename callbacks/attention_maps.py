"""Attention maps over the pyramid levels for one query position (the paper's Fig. 8), and
over the downscaled copy that CSNLN's cross-scale attention searches.

After each validation (rank 0, not the sanity check) the callback takes the first image of the
first validation set, crops its degraded input ``lq`` around the query position, runs the
network once on that crop while forward pre-hooks capture the input features ``x`` of every
attention module (``panet.inference.attention_maps``; the pass stops there), and asks each
module for ``attention_map(x, query_yx)``: the softmax weights of that query over every level.
Each module becomes one row ``input crop | level 0 | level 1 | ...`` (heat maps normalized per
level, query marked by a cyan cross, the caption gives each level's share of the total
weight). Rows are stacked, saved as ``{output_dir}/{name}_step{N}.png`` and logged to W&B and
TensorBoard under ``val/attention``.

The extra forward pass on a small crop keeps this independent of how ``validation_step``
restores whole images (tiling, self-ensemble) and cheap even for big benchmark images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.utilities import rank_zero_warn
from torch import Tensor, nn

from callbacks.log_targets import image_root, publish_images
from callbacks.network import module_network
from panet.imaging.rendering import (
    crop_window,
    draw_cross,
    heat_map,
    hstack,
    safe_file_stem,
    to_rgb_uint8,
    vstack,
)
from panet.inference.attention_maps import MAPPED_ATTENTIONS, capture_attention_inputs
from panet.inference.padding import input_multiple


def attention_row(
    lq_crop: Tensor,
    maps: list[Tensor],
    query_yx: tuple[int, int],
    feature_hw: tuple[int, int],
    display_height: int,
) -> np.ndarray:
    """``input | level 0 | level 1 | ...`` for one module, ``[H, W, 3]`` uint8.

    Args:
        lq_crop: the network's input crop ``[C, h, w]`` float 0–255.
        maps: per level ``[Hl, Wl]`` attention weights (``attention_map`` output, one image).
        query_yx: query position in feature coordinates (row, col).
        feature_hw: size of the features the query indexes.
        display_height: height the input tile and the level-0 map are enlarged to (nearest,
            by an integer factor; smaller levels are enlarged by the same factor).
    """
    fh, fw = feature_hw
    image = to_rgb_uint8(lq_crop)
    image_factor = max(1, round(display_height / image.shape[0]))
    image = image.repeat(image_factor, axis=0).repeat(image_factor, axis=1)
    row = int((query_yx[0] + 0.5) * image.shape[0] / fh)
    col = int((query_yx[1] + 0.5) * image.shape[1] / fw)
    arm = 3 * image_factor
    draw_cross(image, min(row, image.shape[0] - 1), min(col, image.shape[1] - 1), arm=arm)
    # one enlargement for every level: level 0 gets display_height, smaller levels stay smaller
    factor = max(1, round(display_height / fh))
    tiles = [image]
    for level in maps:
        level_yx = (query_yx[0] * level.shape[0] / fh, query_yx[1] * level.shape[1] / fw)
        tiles.append(heat_map(level, factor, level_yx))
    return hstack(tiles)


class AttentionMapLogger(Callback):
    """Logs the pyramid-attention weights of one query of the first validation image.

    Args:
        query_yx: query (row, col) in pixels of the degraded input ``lq``; default its centre.
        max_side: side of the ``lq`` crop (centred on the query) the network is run on.
        display_height: height in pixels of every tile of the rendered row.
        output_dir: folder of the PNG files; default
            ``{trainer.default_root_dir}/images/attention``.
        network_attr: attribute of the LightningModule holding the network (with
            ``pixel_range``, the range its pixels live in: 1 or 255).
    """

    def __init__(
        self,
        query_yx: tuple[int, int] | None = None,
        max_side: int = 64,
        display_height: int = 128,
        output_dir: str | None = None,
        network_attr: str = "net",
    ) -> None:
        super().__init__()
        if query_yx is not None and (len(query_yx) != 2 or min(query_yx) < 0):
            raise ValueError(f"query_yx must be two non-negative ints (row, col), got {query_yx}")
        if max_side < 8:
            raise ValueError(f"max_side must be >= 8 pixels, got {max_side}")
        self.query_yx = tuple(int(v) for v in query_yx) if query_yx is not None else None
        self.max_side = max_side
        self.display_height = display_height
        self.output_dir = output_dir
        self.network_attr = network_attr
        self._warned = False

    def _network(self, pl_module: pl.LightningModule) -> nn.Module:
        return module_network(
            pl_module,
            self.network_attr,
            "AttentionMapLogger",
            "callbacks.attention_maps.network_attr",
        )

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if batch_idx != 0 or dataloader_idx != 0:
            return
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        net = self._network(pl_module)
        if not any(isinstance(m, MAPPED_ATTENTIONS) for m in net.modules()):
            if not self._warned:
                rank_zero_warn(
                    "AttentionMapLogger: the network has no PyramidAttention or "
                    "CrossScaleAttention module"
                )
                self._warned = True
            return
        self._log_maps(trainer, net, batch["lq"][0], str(batch["name"][0]))

    def _log_maps(self, trainer: pl.Trainer, net: nn.Module, lq: Tensor, name: str) -> None:
        """Crop ``lq`` ([C, h, w] float 0–255), capture features, render, publish."""
        height, width = lq.shape[-2:]
        centre = self.query_yx if self.query_yx is not None else (height // 2, width // 2)
        if not (centre[0] < height and centre[1] < width):
            raise ValueError(
                f"AttentionMapLogger: query_yx {centre} lies outside {name} ({height}x{width})"
            )
        top, left, h, w = crop_window(height, width, self.max_side, centre)
        # networks that need multiples (CSNLN: its up-factor) get the largest such crop
        multiple = input_multiple(net)
        h, w = max(multiple, h - h % multiple), max(multiple, w - w % multiple)
        parameter = next(iter(net.parameters()), None)
        device = parameter.device if parameter is not None else lq.device
        crop = lq[:, top : top + h, left : left + w].to(device)  # the network's device
        scale = float(getattr(net, "pixel_range", 255.0)) / 255.0
        captured = capture_attention_inputs(net, crop[None].float() * scale)
        rows, captions = [], []
        for module_name, module, features in captured:
            fh, fw = features.shape[-2:]
            query = (
                min(int((centre[0] - top) * fh / h), fh - 1),
                min(int((centre[1] - left) * fw / w), fw - 1),
            )
            maps = [m[0] for m in module.attention_map(features[:1], query)]
            rows.append(attention_row(crop, maps, query, (fh, fw), self.display_height))
            shares = ", ".join(f"{float(m.sum()):.2f}" for m in maps)
            captions.append(f"{module_name}: levels {module.scales}, weight share {shares}")
        if not rows:
            return
        picture = vstack(rows)
        root = Path(self.output_dir) if self.output_dir else image_root(trainer, None) / "attention"
        path = root / f"{safe_file_stem(name)}_step{trainer.global_step}.png"
        caption = f"{name}, query (row, col) {centre}; " + "; ".join(captions)
        publish_images(trainer, "val/attention", [picture], [caption], [path])
