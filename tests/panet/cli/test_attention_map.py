"""The attention-map command on tiny networks: our network files, a train.py (Lightning)
checkpoint, the authors' layouts (PANet, PA-EDSR), CSNLN, and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from panet.checkpoints import save_network
from panet.cli.attention_map import main
from panet.inference.attention_maps import capture_attention_inputs
from panet.inference.padding import pad_to_multiple
from panet.models.registry import build_network

HEIGHT, WIDTH = 16, 20
FACTOR = 13  # per-level pictures: 20 px enlarged until the longer side reaches 256


def write_image(path: Path, height: int = HEIGHT, width: int = WIDTH) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return path


def randomized(arch: str, seed: int = 0, **arch_args) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = build_network(arch, **arch_args)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    return net.eval()


def expected_maps(net: torch.nn.Module, image: Path, yx: tuple[int, int]) -> list[torch.Tensor]:
    """The maps computed directly: the full forward pass, the module's own attention_map."""
    x = torch.from_numpy(np.array(Image.open(image))).permute(2, 0, 1).float()[None]
    x = pad_to_multiple(x * float(net.pixel_range) / 255, int(getattr(net, "input_multiple", 1)))
    ((_, module, features),) = capture_attention_inputs(net, x, stop_early=False)
    return [m[0] for m in module.attention_map(features, yx)]


def run(ckpt: Path, image: Path, out: Path, *extra: str, points=("3,4", "19,15")) -> int:
    return main(
        ["--ckpt", str(ckpt), "--image", str(image), "--points", *points, "--out", str(out)]
        + ["--device", "cpu", *extra]
    )


def shares(record: dict, point: int) -> list[float]:
    return [level["share"] for level in record["points"][point]["modules"][0]["levels"]]


PANET_ARGS = {"n_feats": 4, "n_resblocks": 2, "levels": 3, "attention_impl": "faithful"}


def test_our_network_file_gives_level_pictures_a_sheet_and_numbers(tmp_path: Path) -> None:
    net = randomized("panet", **PANET_ARGS)
    ckpt = save_network(net, tmp_path / "panet.pt")
    image = write_image(tmp_path / "photo.png")
    assert run(ckpt, image, tmp_path / "out") == 0

    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    levels = [f"photo_x{x}_y{y}_level{i}.png" for x, y in ((19, 15), (3, 4)) for i in range(3)]
    assert names == sorted([*levels, "photo_sheet.png", "photo_attention.json"])
    picture = np.asarray(Image.open(tmp_path / "out" / "photo_x3_y4_level0.png"))
    assert picture.shape == (HEIGHT * FACTOR, WIDTH * FACTOR, 3)
    assert tuple(picture[4 * FACTOR + FACTOR // 2, 3 * FACTOR + FACTOR // 2]) == (0, 255, 255)

    record = json.loads((tmp_path / "out" / "photo_attention.json").read_text())
    assert record["task"] == "denoise" and [p["x"] for p in record["points"]] == [3, 19]
    for point, (x, y) in enumerate(((3, 4), (19, 15))):
        (module,) = record["points"][point]["modules"]
        assert module["module"] == "body.1" and module["feature_cell"] == [y, x]
        want = expected_maps(net, image, (y, x))
        assert shares(record, point) == pytest.approx([float(m.sum()) for m in want], abs=1e-6)
        assert [level["size"] for level in module["levels"]] == [[16, 20], [14, 18], [12, 16]]
        row, col = divmod(int(want[0].argmax()), WIDTH)
        assert module["levels"][0]["peak_xy"] == [col, row]  # level 0: keys are pixels
    sheet = np.asarray(Image.open(tmp_path / "out" / "photo_sheet.png"))
    assert sheet.shape[1] > 3 * picture.shape[1] // 2  # four tiles side by side


def test_a_train_py_checkpoint_gives_the_same_maps(tmp_path: Path) -> None:
    net = randomized("panet", **PANET_ARGS)
    lightning = {
        "pytorch-lightning_version": "2.6.1",
        "arch": "panet",
        "arch_args": dict(net.arch_args),
        "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
    }
    torch.save(lightning, tmp_path / "best.ckpt")
    image = write_image(tmp_path / "photo.png")
    assert run(tmp_path / "best.ckpt", image, tmp_path / "out", points=("7,9",)) == 0
    record = json.loads((tmp_path / "out" / "photo_attention.json").read_text())
    want = expected_maps(net, image, (9, 7))
    assert shares(record, 0) == pytest.approx([float(m.sum()) for m in want], abs=1e-6)


def authors_state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Our state dict in the authors' layout, written out independently of the loader:
    PANet saves two unused MeanShift layers, PA-EDSR its attention twice (``msa.``)."""
    state = {k: v.clone() for k, v in net.state_dict().items()}
    if net.arch == "panet":
        for name, sign in (("sub_mean", -1), ("add_mean", 1)):
            state[f"{name}.weight"] = torch.eye(3).view(3, 3, 1, 1)
            state[f"{name}.bias"] = sign * torch.tensor((0.4488, 0.4371, 0.4040))
    else:
        middle = f"body.{net.arch_args['n_resblocks'] // 2}."
        state |= {
            "msa." + k.removeprefix(middle): v for k, v in state.items() if k.startswith(middle)
        }
    return {"module." + k: v for k, v in state.items()}  # saved from DataParallel


@pytest.mark.parametrize(
    ("arch", "arch_args", "task"),
    [
        ("panet", {"n_feats": 8, "n_resblocks": 2, "levels": 2}, "denoise"),
        ("pa_edsr", {"scale": 2, "n_feats": 16, "n_resblocks": 2, "res_scale": 1.0}, "sr"),
    ],
)
def test_the_authors_weights_load_with_their_architecture(
    tmp_path: Path, arch: str, arch_args: dict, task: str
) -> None:
    net = randomized(arch, **arch_args, attention_impl="faithful")
    torch.save(authors_state(net), tmp_path / "authors.pt")
    image = write_image(tmp_path / "lr.png")
    options = [f"--arch-arg={k}={v}" for k, v in arch_args.items()]
    assert (
        run(tmp_path / "authors.pt", image, tmp_path / "out", "--official-arch", arch, *options)
        == 0
    )
    record = json.loads((tmp_path / "out" / "lr_attention.json").read_text())
    assert record["task"] == task  # inferred from the network
    for point, (x, y) in enumerate(((3, 4), (19, 15))):
        assert record["points"][point]["modules"][0]["feature_cell"] == [y, x]  # LR resolution
        want = expected_maps(net, image, (y, x))
        assert shares(record, point) == pytest.approx([float(m.sum()) for m in want], abs=1e-6)


def test_csnln_maps_its_cross_scale_keys(tmp_path: Path) -> None:
    net = randomized("csnln", scale=3, n_feats=8, depth=2, attention_impl="faithful")
    ckpt = save_network(net, tmp_path / "csnln.pt")
    image = write_image(tmp_path / "lr.png", height=10, width=13)  # padded to 12 x 15
    assert run(ckpt, image, tmp_path / "out", points=("12,9",)) == 0
    assert (tmp_path / "out" / "lr_x12_y9_crossscale.png").is_file()
    record = json.loads((tmp_path / "out" / "lr_attention.json").read_text())
    (module,) = record["points"][0]["modules"]
    assert module["module"] == "SEM.multi_source_projection.up_attention"
    assert module["kind"] == "cross-scale" and module["scales"] == [pytest.approx(1 / 3)]
    assert module["input_size"] == [12, 15] and module["feature_cell"] == [9, 12]
    assert module["levels"][0]["size"] == [4, 5]
    (want,) = expected_maps(net, image, (9, 12))
    assert module["levels"][0]["share"] == pytest.approx(float(want.sum()), abs=1e-6)
    assert module["levels"][0]["share"] == pytest.approx(1.0, abs=1e-5)


def test_every_attention_module_gets_its_own_pictures(tmp_path: Path) -> None:
    args = {**PANET_ARGS, "levels": 2, "positions": ("pre", "mid", "post")}
    ckpt = save_network(randomized("panet", **args), tmp_path / "panet.pt")
    assert run(ckpt, write_image(tmp_path / "photo.png"), tmp_path / "out", points=("3,4",)) == 0
    names = sorted(p.name for p in (tmp_path / "out").glob("*level*.png"))
    modules = ("body_1", "body_2", "body_4")  # pre and mid both follow block 1 of 2
    assert names == [f"photo_x3_y4_{m}_level{i}.png" for m in modules for i in (0, 1)]
    record = json.loads((tmp_path / "out" / "photo_attention.json").read_text())
    assert [m["module"] for m in record["points"][0]["modules"]] == ["body.1", "body.2", "body.4"]


def test_a_crop_shows_only_the_window_the_network_saw(tmp_path: Path) -> None:
    ckpt = save_network(randomized("panet", **PANET_ARGS), tmp_path / "panet.pt")
    image = write_image(tmp_path / "photo.png")
    assert run(ckpt, image, tmp_path / "out", "--crop", "8", points=("19,15",)) == 0
    record = json.loads((tmp_path / "out" / "photo_attention.json").read_text())
    window = record["points"][0]["modules"][0]["window"]
    assert window == {"top": 8, "left": 12, "height": 8, "width": 8}
    picture = np.asarray(Image.open(tmp_path / "out" / "photo_x19_y15_level0.png"))
    original = np.asarray(Image.open(image)).repeat(FACTOR, 0).repeat(FACTOR, 1)
    away = (slice(0, 5 * FACTOR), slice(0, 9 * FACTOR))  # outside the window, off the markers
    np.testing.assert_allclose(picture[away], np.rint(original[away] * 0.5), atol=1)


def test_points_outside_the_image_are_all_refused_before_anything_is_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = write_image(tmp_path / "photo.png")
    points = ("20,3", "2,2", "5,16")
    code = run(tmp_path / "missing.pt", image, tmp_path / "out", points=points)
    assert code == 2
    err = capsys.readouterr().err
    assert "2 of 3 query point(s) lie outside" in err and "20,3 5,16" in err
    assert "x must be in 0..19, y in 0..15" in err
    assert not (tmp_path / "out").exists()


def test_bad_options_and_networks_without_attention(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = write_image(tmp_path / "photo.png")
    with pytest.raises(SystemExit) as exit_info:
        run(tmp_path / "x.pt", image, tmp_path / "out", points=("3;4",))
    assert exit_info.value.code == 2 and "x,y in image pixels" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(tmp_path / "x.pt", image, tmp_path / "out", "--crop", "0")
    assert "--crop must be >= 1" in capsys.readouterr().err
    edsr = save_network(build_network("edsr", scale=2, n_feats=8, n_resblocks=1), tmp_path / "e.pt")
    assert run(edsr, image, tmp_path / "out") == 2
    assert "no pyramid attention or cross-scale attention" in capsys.readouterr().err
    ckpt = save_network(randomized("panet", **PANET_ARGS), tmp_path / "panet.pt")
    assert run(ckpt, image, tmp_path / "out", "--task", "sr") == 2
    assert "task sr needs a super-resolution network" in capsys.readouterr().err
