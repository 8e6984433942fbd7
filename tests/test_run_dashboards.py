"""What a researcher sees of a run: train.py with logger=tensorboard and tags writes the scalars
of every set, images and the model cost to TensorBoard, the cost and tags to metrics.json, and
Lightning's model summary shows real sizes and FLOPs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from panet.models import PANet
from panet.models.cost import count_parameters
from tests.callbacks.tensorboard_events import decoded_image, image_tags, load_events, scalar_tags
from tests.run_helpers import TINY, run_script, with_overrides

RUN = with_overrides(
    TINY,
    "run_name=dash",
    "trainer=debug",
    "trainer.max_steps=2",
    "logger=tensorboard",
    "tags=[smoke,tb]",
    "data.samples_per_epoch=4",
    "data.embedded_crop=24",
)


@pytest.mark.slow
def test_tensorboard_run_has_sets_images_cost_and_tags(tmp_path: Path) -> None:
    result = run_script("train.py", list(RUN), tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    run = tmp_path / "logs" / "train" / "denoise" / "dash"

    # Lightning's summary ran the example input: sizes and a non-zero FLOP total
    assert "In sizes" in result.stdout and "[1, 3, 16," in result.stdout
    (flops_line,) = [line for line in result.stdout.splitlines() if "Total FLOPs" in line]
    assert flops_line.split(":")[1].strip() not in ("0", "")

    tiny = PANet(n_feats=8, n_resblocks=2)  # model=panet_s with the TINY overrides
    meta = json.loads((run / "metrics.json").read_text())["meta"]
    assert meta["cost"]["params_total"] == count_parameters(tiny)[0]
    assert meta["cost"]["input_shape"] == [1, 3, 16, 16] and meta["cost"]["flops_per_patch"] > 0
    assert f"model cost: {meta['cost']['params_total']:,} parameters" in result.stdout
    assert meta["tags"] == ["smoke", "tb"] and "tags=[smoke,tb]" in meta["overrides"]
    assert yaml.safe_load((run / "config_resolved.yaml").read_text())["tags"] == ["smoke", "tb"]

    events = load_events(run / "tensorboard")
    tags = scalar_tags(events)
    for stage in ("val", "test"):
        assert {f"{stage}/embedded/{k}" for k in ("psnr", "ssim", "psnr_input", "n_images")} <= tags
    assert {"cost/params_total", "cost/gflops_per_patch", "train/loss"} <= tags
    assert events.Scalars("cost/params_total")[-1].value == meta["cost"]["params_total"]
    assert {"val/embedded/panels/0", "val/attention/0"} <= image_tags(events)
    _, panel = decoded_image(events, "val/embedded/panels/0")
    assert panel.ndim == 3 and panel.std() > 0  # a real picture, not a blank
    hparams = yaml.safe_load((run / "tensorboard" / "hparams.yaml").read_text())
    assert hparams["tags"] == ["smoke", "tb"] and hparams["model_cost"] == meta["cost"]
