"""ImagePanelLogger on a real Trainer (CSV logger only): PNG panels of the first images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pytorch_lightning.loggers import CSVLogger

from callbacks.image_panels import ImagePanelLogger
from tests.callbacks.configured import build_callbacks, callbacks_config
from tests.callbacks.tiny_lightning import SIZE, VAL_SETS, TinyModule, fit_tiny


@pytest.mark.slow
def test_panels_of_the_first_images_of_every_set_as_png(tmp_path: Path) -> None:
    (panels,) = build_callbacks(callbacks_config(tmp_path), ("image_panels",))
    assert isinstance(panels, ImagePanelLogger) and panels.num_images == 2
    trainer = fit_tiny(
        tmp_path, [panels], logger=CSVLogger(tmp_path, name="csv"), max_steps=2, sanity_steps=1
    )
    step = trainer.global_step
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    # two per set (the third image of each set is not shown), none from the sanity check
    assert files == [f"images/{s}/{s}_{i}_step{step}.png" for s in VAL_SETS for i in range(2)]
    picture = np.asarray(Image.open(tmp_path / "images" / "toyA" / f"toyA_1_step{step}.png"))
    assert picture.shape == (SIZE, 3 * SIZE + 2 * 4, 3)
    gt = trainer.datamodule.val_dataloader()[0].dataset.gt[1]
    target_tile = picture[:, 2 * (SIZE + 4) :]
    np.testing.assert_array_equal(target_tile, gt.round().byte().permute(1, 2, 0).numpy())


@pytest.mark.slow
def test_missing_pred_warns_once_and_logs_nothing(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="'pred'") as record:
        fit_tiny(tmp_path, [ImagePanelLogger()], module=TinyModule(return_pred=False))
    assert sum("'pred'" in str(w.message) for w in record) == 1
    assert not list(tmp_path.rglob("*.png"))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="num_images"):
        ImagePanelLogger(num_images=-1)
    with pytest.raises(ValueError, match="max_side"):
        ImagePanelLogger(max_side=2)
