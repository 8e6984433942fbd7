"""panet.tasks: the one rule of which network fits which task."""

from __future__ import annotations

import pytest

from panet.models import Bicubic, Identity
from panet.models.registry import build_network
from panet.tasks import TASK_CHANNELS, TASKS, check_network_fits_task

TINY = {"n_feats": 4, "n_resblocks": 1, "levels": 1, "attention_impl": "faithful"}


def test_every_task_has_its_channels() -> None:
    assert set(TASK_CHANNELS) == set(TASKS)


@pytest.mark.parametrize(
    ("task", "n_colors"),
    [("denoise", 3), ("demosaic", 3), ("car", 1), ("deblur", 3), ("derain", 3)],
    ids=str,
)
def test_panet_fits_its_tasks(task: str, n_colors: int) -> None:
    check_network_fits_task(build_network("panet", n_colors=n_colors, **TINY), task)


def test_channels_scale_and_task_mismatches_are_refused() -> None:
    rgb = build_network("panet", n_colors=3, **TINY)
    with pytest.raises(ValueError, match="Y channel.*n_colors=1"):
        check_network_fits_task(rgb, "car")
    with pytest.raises(ValueError, match="RGB.*n_colors=3"):
        check_network_fits_task(build_network("panet", n_colors=1, **TINY), "denoise")
    with pytest.raises(ValueError, match="super-resolution network"):
        check_network_fits_task(rgb, "sr")
    sr = build_network("edsr", scale=2, n_feats=4, n_resblocks=1)
    with pytest.raises(ValueError, match="scale-1 network"):
        check_network_fits_task(sr, "denoise")
    with pytest.raises(ValueError, match="degradation.scale=2"):
        check_network_fits_task(sr, "sr", scale=4)
    with pytest.raises(ValueError, match="unknown task"):
        check_network_fits_task(rgb, "dehaze")


def test_baselines_take_any_channels() -> None:
    check_network_fits_task(Identity(), "car")
    check_network_fits_task(Bicubic(3), "sr", scale=3)
