"""Device resolution (auto/cpu/cuda/cuda:N), TF32 switches, and tiling on the input's device."""

from __future__ import annotations

import pytest
import torch

from panet.inference.devices import describe_device, resolve_device, set_tf32, tf32_enabled
from panet.inference.tiles import tile_weight_1d, tiles

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")


def test_auto_takes_the_gpu_only_where_one_exists() -> None:
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert str(resolve_device("auto")) == expected
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@no_cuda
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_cuda_is_a_clear_error(spec: str) -> None:
    with pytest.raises(ValueError, match=f"device={spec} was requested but CUDA is not available"):
        resolve_device(spec)


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "cuda0", ""])
def test_unknown_device_names_the_choices(spec: str) -> None:
    with pytest.raises(ValueError, match="choose auto, cpu, cuda or cuda:N"):
        resolve_device(spec)


def test_describe_device_for_metrics() -> None:
    meta = describe_device(torch.device("cpu"))
    assert meta == {"device": "cpu", "device_name": None, "torch": torch.__version__}


def test_tf32_switches_both_matmuls_and_convolutions() -> None:
    before = tf32_enabled()
    try:
        set_tf32(False)
        assert not tf32_enabled()
        set_tf32(True)
        assert tf32_enabled()
    finally:
        set_tf32(before)


def test_tiles_run_and_build_their_weights_on_the_input_device() -> None:
    # Meta tensors stand in for a GPU (no data, but device checks apply).
    weight = tile_weight_1d(20, has_prev=True, has_next=True, overlap=8, device="meta")
    assert weight.device.type == "meta" and weight.dtype == torch.float64
    x = torch.empty(1, 3, 40, 52, device="meta")
    y = tiles(lambda t: t * 2, x, tile=16, overlap=4, batch_size=3)
    assert y.device.type == "meta" and y.shape == (1, 3, 40, 52)
    cpu = tile_weight_1d(20, has_prev=True, has_next=True, overlap=8)
    assert cpu.device.type == "cpu" and cpu[0] == 0 and cpu[10] == 1
