"""The restore command on synthetic image folders with tiny saved networks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from panet.checkpoints import save_network
from panet.cli.network_options import parse_arch_args
from panet.cli.restore import main
from panet.imaging.io import read_image
from panet.models.registry import build_network


def tiny_panet(tmp_path: Path, n_colors: int = 3) -> Path:
    torch.manual_seed(0)
    net = build_network(
        "panet", n_colors=n_colors, n_feats=4, n_resblocks=1, levels=2, attention_impl="faithful"
    )
    return save_network(net, tmp_path / f"panet_c{n_colors}.pt")


def write_rgb(path: Path, h: int = 14, w: int = 18, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def restore_args(ckpt: Path, task: str, inputs: list[Path], out: Path, *extra: str) -> list[str]:
    """The command line of one restore run."""
    return [
        "--ckpt",
        str(ckpt),
        "--task",
        task,
        "--inputs",
        *map(str, inputs),
        "--out",
        str(out),
        *extra,
    ]


def test_folder_with_a_corrupt_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = tiny_panet(tmp_path)
    folder = tmp_path / "in"
    folder.mkdir()
    write_rgb(folder / "a.png", seed=1)
    write_rgb(folder / "c.jpg", h=9, w=11, seed=2)
    (folder / "b.png").write_bytes(b"not a png at all")
    (folder / "notes.txt").write_text("ignored: not an image extension")
    out = tmp_path / "out"

    code = main(
        restore_args(
            ckpt, "denoise", [folder], out, "--mode", "tiles", "--tile", "8", "--overlap", "4"
        )
    )

    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png"]
    assert read_image(out / "a.png").shape == (3, 14, 18)
    assert read_image(out / "c.png").shape == (3, 9, 11)
    err = capsys.readouterr().err
    assert "b.png" in err and "cannot decode" in err
    assert "2 image(s)" in err and "1 failure(s)" in err


def test_car_writes_the_restored_y_channel(tmp_path: Path) -> None:
    ckpt = tiny_panet(tmp_path, n_colors=1)
    image = write_rgb(tmp_path / "photo.png")
    out = tmp_path / "out"
    code = main(restore_args(ckpt, "car", [image], out, "--mode", "chop", "--self-ensemble"))
    assert code == 0
    assert read_image(out / "photo.png").shape == (1, 14, 18)


def test_wrong_task_for_network_and_bad_arguments(tmp_path: Path) -> None:
    ckpt = tiny_panet(tmp_path)
    image = write_rgb(tmp_path / "x.png")
    common = ["--ckpt", str(ckpt), "--inputs", str(image), "--out", str(tmp_path / "o")]
    assert main([*common, "--task", "sr"]) == 2  # scale-1 network
    # a colour network for the Y-channel task is refused before any image is read
    assert main(restore_args(ckpt, "car", [image], tmp_path / "o")) == 2
    assert main([*common, "--task", "denoise", "--arch-arg", "n_feats=4"]) == 2  # no --arch
    assert main(restore_args(tmp_path / "none.pt", "denoise", [image], tmp_path / "o")) == 2
    # Writing x.png next to itself would overwrite the input.
    assert main(restore_args(ckpt, "denoise", [image], tmp_path)) == 2
    if not torch.cuda.is_available():  # a GPU requested where none exists: refused
        assert main([*common, "--task", "denoise", "--device", "cuda"]) == 2
    assert main([*common, "--task", "denoise", "--device", "tpu"]) == 2
    assert not (tmp_path / "o").exists()


def test_missing_input_is_reported_and_others_still_written(tmp_path: Path) -> None:
    ckpt = tiny_panet(tmp_path)
    image = write_rgb(tmp_path / "x.png")
    out = tmp_path / "o"
    code = main(
        restore_args(ckpt, "denoise", [image, tmp_path / "missing.png"], out, "--mode", "full")
    )
    assert code == 1
    assert (out / "x.png").is_file()


def test_parse_arch_args() -> None:
    assert parse_arch_args(["n_resblocks=80", "positions=('mid',)", "attention_impl=fast"]) == {
        "n_resblocks": 80,
        "positions": ("mid",),
        "attention_impl": "fast",
    }
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_arch_args(["n_resblocks"])


def test_colour_network_for_car_is_refused_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = tiny_panet(tmp_path, n_colors=3)
    out = tmp_path / "out"
    assert main(restore_args(ckpt, "car", [write_rgb(tmp_path / "x.png")], out)) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "task car feeds the network the Y channel (1 channel) but it takes 3" in err
    assert not out.exists()


@pytest.mark.parametrize("suffix", [".gif", ".tif"])
def test_multi_frame_files_are_refused_not_cut_to_their_first_frame(
    tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = tiny_panet(tmp_path)
    frames = [Image.fromarray(np.full((12, 12, 3), v, np.uint8)) for v in (0, 128, 255)]
    movie = tmp_path / f"movie{suffix}"
    frames[0].save(movie, save_all=True, append_images=frames[1:])
    out = tmp_path / "out"
    assert main(restore_args(ckpt, "denoise", [movie, write_rgb(tmp_path / "x.png")], out)) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"{movie} holds 3 frames (animated or multi-page)" in err
    assert sorted(p.name for p in out.iterdir()) == ["x.png"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--tile", "0"], "--tile must be >= 1 (input pixels), got 0"),
        (["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
        (["--tile", "8", "--overlap", "8"], "--overlap must be >= 0 and smaller than --tile (8)"),
    ],
)
def test_option_errors_are_reported_once_with_the_usage_exit_status(
    tmp_path: Path, options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    images = [write_rgb(tmp_path / f"{n}.png", seed=n) for n in range(3)]
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stopped:
        main(restore_args(tmp_path / "never-read.pt", "denoise", images, out, *options))
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count(message) == 1 and err.startswith("usage: ")
    assert not out.exists()


def test_random_bytes_checkpoint_is_called_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    noise = tmp_path / "noise.pt"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    out = tmp_path / "out"
    assert main(restore_args(noise, "denoise", [write_rgb(tmp_path / "x.png")], out)) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"cannot read {noise}: it is not a PyTorch checkpoint" in err
    assert "Python objects" not in err
    assert not out.exists()


@pytest.mark.parametrize("mode", ["full", "tiles"])
def test_official_mprnet_weights_restore_odd_sizes(tmp_path: Path, mode: str) -> None:
    from tests.panet.checkpoints.test_mprnet_official import write_official
    from tests.panet.models.mprnet_reference import official_state, reference_forward

    state = official_state(8, 4, 4, num_cab=1, seed=2)
    ckpt = write_official(tmp_path / "model_best.pth", state, prefix="module.")
    image = write_rgb(tmp_path / "photo.png", h=21, w=35)  # odd: padded to 24 x 40 inside
    arch_args = ["variant=None", "n_feats=8", "scale_unetfeats=4", "scale_orsnetfeats=4"]
    extra = ["--arch", "mprnet", *(f"--arch-arg={a}" for a in (*arch_args, "num_cab=1"))]
    out = tmp_path / "out"
    assert main(restore_args(ckpt, "denoise", [image], out, "--mode", mode, *extra)) == 0
    restored = read_image(out / "photo.png")
    assert restored.shape == (3, 21, 35)
    if mode == "full":  # reflect-pad to a multiple of 8, the authors' forward, crop, 8 bits
        x = torch.nn.functional.pad(read_image(image)[None] / 255, (0, 5, 0, 3), mode="reflect")
        expected = reference_forward(state, x, num_cab=1)[0][0, :, :21, :35]
        expected = (expected.clamp(0, 1) * 255).round()
        assert (restored - expected).abs().max() <= 1
