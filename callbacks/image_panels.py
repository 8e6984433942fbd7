"""Image panels ``input | output | target`` for a few fixed validation images per set.

Contract with the LightningModule (``panet.training.module``): ``validation_step(batch, batch_idx,
dataloader_idx=0)`` returns a mapping with key ``"pred"``: the restored batch, a float tensor
``[B, C, H, W]`` in the 0–255 range (RGB or grey/Y, same size as ``batch["gt"]``). The batch is
the usual dict with ``lq`` ``[B, C, h, w]`` float 0–255, ``gt`` ``[B, C, H, W]`` float 0–255 and
``name`` (list of B image names). Validation loaders are unshuffled, so "the first
``num_images`` of each set" are the same images at every validation. Without ``pred`` the
callback warns once and logs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.utilities import rank_zero_warn

from callbacks.log_targets import image_root, publish_images, val_set_name
from panet.imaging.rendering import panel, safe_file_stem


class ImagePanelLogger(Callback):
    """Logs ``input | output | target`` panels of the first images of every validation set.

    After each validation (not the sanity check), on global rank 0, the panels are written to
    ``{output_dir}/{set}/{name}_step{N}.png`` and logged to every image-capable logger (W&B,
    TensorBoard) under the key ``val/{set}/panels`` at global step N.

    Args:
        num_images: how many images per validation set (the first ones of the loader).
        max_side: images larger than this are centre-cropped to it (per side) in the panel.
        output_dir: folder of the PNG files; default ``{trainer.default_root_dir}/images``.
    """

    def __init__(
        self, num_images: int = 2, max_side: int = 256, output_dir: str | None = None
    ) -> None:
        super().__init__()
        if num_images < 0:
            raise ValueError(f"num_images must be >= 0, got {num_images}")
        if max_side < 8:
            raise ValueError(f"max_side must be >= 8 pixels, got {max_side}")
        self.num_images = num_images
        self.max_side = max_side
        self.output_dir = output_dir
        self._seen: dict[int, int] = {}
        self._panels: dict[str, list[tuple[str, np.ndarray]]] = {}
        self._warned = False

    def _active(self, trainer: pl.Trainer) -> bool:
        return self.num_images > 0 and trainer.is_global_zero and not trainer.sanity_checking

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._seen = {}
        self._panels = {}

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not self._active(trainer):
            return
        seen = self._seen.get(dataloader_idx, 0)
        if seen >= self.num_images:
            return
        if not isinstance(outputs, Mapping) or "pred" not in outputs:
            # panels are an aid, not worth killing a training run over: say it loudly, once
            if not self._warned:
                rank_zero_warn(
                    "ImagePanelLogger: validation_step must return a dict with 'pred' "
                    f"([B, C, H, W] float 0-255) for image panels; got {type(outputs).__name__}"
                    ", so no panels are logged"
                )
                self._warned = True
            return
        pred = outputs["pred"]
        set_name = val_set_name(trainer, dataloader_idx)
        take = min(self.num_images - seen, pred.shape[0])
        for i in range(take):
            picture = panel(batch["lq"][i], pred[i], batch["gt"][i], max_side=self.max_side)
            self._panels.setdefault(set_name, []).append((str(batch["name"][i]), picture))
        self._seen[dataloader_idx] = seen + take

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._active(trainer):
            return
        root = image_root(trainer, self.output_dir)
        step = trainer.global_step
        for set_name, items in self._panels.items():
            publish_images(
                trainer,
                key=f"val/{set_name}/panels",
                images=[picture for _, picture in items],
                captions=[f"{name} (input | output | target)" for name, _ in items],
                paths=[
                    Path(root) / set_name / f"{safe_file_stem(name)}_step{step}.png"
                    for name, _ in items
                ],
            )
        self._panels = {}
