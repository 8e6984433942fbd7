"""The restore command with the authors' CSNLN weights (``--arch csnln``) on odd-sized images."""

from __future__ import annotations

from pathlib import Path

import torch

from panet.cli.restore import main
from panet.imaging.io import read_image
from panet.inference import Inference, restore
from panet.models.csnln import CSNLN
from tests.panet.cli.test_restore import restore_args, write_rgb


def test_official_csnln_weights_upscale_odd_sizes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = CSNLN(scale=3, n_feats=8, depth=1, attention_impl="faithful").eval()
    ckpt = tmp_path / "csnln_x3.pt"
    torch.save(net.state_dict(), ckpt)  # the authors' files: a bare state dict, their keys
    image = write_rgb(tmp_path / "small.png", h=10, w=7)  # neither side a multiple of 3
    out = tmp_path / "out"
    args = ["--arch", "csnln", "--arch-arg", "scale=3", "--arch-arg", "depth=1"]
    args += ["--arch-arg", "n_feats=8"]
    assert main(restore_args(ckpt, "sr", [image], out, *args)) == 0
    restored = read_image(out / "small.png")
    assert restored.shape == (3, 30, 21)
    with torch.no_grad():
        expected = restore(net, read_image(image)[None], Inference(mode="full"))[0]
    assert (restored - expected.clamp(0, 255).round()).abs().max() <= 1
