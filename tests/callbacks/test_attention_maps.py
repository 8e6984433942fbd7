"""AttentionMapLogger: hooks real PyramidAttention modules and renders one row per module."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from callbacks.attention_maps import AttentionMapLogger, attention_row
from panet.inference.attention_maps import capture_attention_inputs
from tests.callbacks.configured import build_callbacks, callbacks_config
from tests.callbacks.tiny_lightning import SIZE, TinyModule, TinyNet, fit_tiny


def test_captured_features_give_maps_that_sum_to_one() -> None:
    torch.manual_seed(0)
    net = TinyNet().eval()
    x = torch.rand(1, 3, SIZE, SIZE)
    ((name, module, features),) = capture_attention_inputs(net, x)
    assert name == "attention" and features.shape == (1, 4, SIZE, SIZE)
    torch.testing.assert_close(features, net.head(x))
    maps = module.attention_map(features, (8, 8))
    assert [tuple(m.shape) for m in maps] == [(1, 16, 16), (1, 14, 14)]  # levels 1.0, 0.9
    assert sum(float(m.sum()) for m in maps) == pytest.approx(1.0, abs=1e-5)
    row = attention_row(x[0] * 255, [m[0] for m in maps], (8, 8), (SIZE, SIZE), 32)
    assert row.dtype == np.uint8
    assert row.shape == (32, 32 + 32 + 28 + 2 * 4, 3)  # level 1 (14x14) enlarged x2 like level 0


@pytest.mark.slow
def test_logger_writes_the_attention_picture(tmp_path: Path) -> None:
    (maps,) = build_callbacks(
        callbacks_config(tmp_path), ("attention_maps",), attention_maps__display_height=32
    )
    assert isinstance(maps, AttentionMapLogger)
    trainer = fit_tiny(tmp_path, [maps], max_steps=2)
    path = tmp_path / "images" / "attention" / f"toyA_0_step{trainer.global_step}.png"
    picture = np.asarray(Image.open(path))
    assert picture.shape == (32, 32 + 32 + 28 + 2 * 4, 3)  # input | level 0 | level 1
    assert (picture == (0, 255, 255)).all(axis=-1).any()  # the query marker


@pytest.mark.slow
def test_query_outside_the_image_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outside"):
        fit_tiny(tmp_path, [AttentionMapLogger(query_yx=(SIZE, 0), output_dir=str(tmp_path))])


@pytest.mark.slow
def test_network_without_attention_writes_nothing(tmp_path: Path) -> None:
    module = TinyModule()
    module.net.attention = nn.Identity()
    with pytest.warns(UserWarning, match="no PyramidAttention"):
        fit_tiny(tmp_path, [AttentionMapLogger(output_dir=str(tmp_path / "att"))], module=module)
    assert not (tmp_path / "att").exists()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="query_yx"):
        AttentionMapLogger(query_yx=(-1, 2))
    with pytest.raises(ValueError, match="max_side"):
        AttentionMapLogger(max_side=4)


def test_csnln_cross_scale_attention_is_captured_and_rendered() -> None:
    from panet.models.csnln import CSNLN

    torch.manual_seed(0)
    net = CSNLN(scale=3, n_feats=8, depth=2, attention_impl="faithful").eval()
    x = torch.rand(1, 3, 9, 12)
    captured = capture_attention_inputs(net, x)
    # the one shared SEM cell: its cross-scale attention, captured at its first call
    assert [name for name, _, _ in captured] == ["SEM.multi_source_projection.up_attention"]
    _, module, features = captured[0]
    assert features.shape == (1, 8, 9, 12) and module.scales == (1 / 3,)
    (weights,) = module.attention_map(features, (4, 5))
    assert weights.shape == (1, 3, 4)
    assert float(weights.sum()) == pytest.approx(1.0, abs=1e-5)
    row = attention_row(x[0] * 255, [weights[0]], (4, 5), (9, 12), 36)
    assert row.dtype == np.uint8 and row.shape[0] == 36
