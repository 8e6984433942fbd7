"""One checkpoint reader for every entry point: train.py's ``ckpt_path=`` and its automatic
resume from ``checkpoints/last.ckpt``, evaluate.py's ``ckpt=`` and the restore command. Every
kind of bad file is one line that names the file (and, for the automatic resume, the way out:
``resume=false``), before anything is written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from panet.checkpoints import save_network
from panet.models.registry import build_network
from tests.run_helpers import TINY_CHECKPOINTED, compose_config, with_overrides


def _folder(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _empty(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def _bare_state_dict(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    net = build_network("panet", n_feats=8, n_resblocks=2)
    torch.save(net.state_dict(), path)
    return path


def _network_file(path: Path) -> Path:
    return save_network(build_network("panet", n_feats=8, n_resblocks=2), path)


def _lightning_like(path: Path) -> Path:
    net = build_network("panet", n_feats=8, n_resblocks=2)
    payload = {
        "pytorch-lightning_version": "2.6.6",
        "epoch": 0,
        "global_step": 3,
        "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
        "optimizer_states": [],
        "lr_schedulers": [],
        "loops": {},
        "arch": "panet",
        "arch_args": dict(net.arch_args),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return path


def _truncated(path: Path) -> Path:
    _lightning_like(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a job killed mid-write, by an old writer
    return path


def _random_bytes(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(range(256)) * 8)
    return path


BAD_FILES: dict[str, Callable[[Path], Path]] = {
    "a folder": _folder,
    "an empty file": _empty,
    "a bare state dict": _bare_state_dict,
    "a network file": _network_file,
    "a truncated file": _truncated,
    "random bytes": _random_bytes,
}
#: What evaluate.py and restore read fine (they take network files; a bare state dict needs
#: official_arch there, which these commands leave out, so it is bad for them too).
BAD_FOR_EVALUATION = [k for k in BAD_FILES if k != "a network file"]

QUICK = with_overrides(TINY_CHECKPOINTED, "trainer.max_steps=2")


def _one_line(error: BaseException) -> str:
    message = str(error)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_train_ckpt_path_reads_through_the_reader(tmp_path: Path, kind: str) -> None:
    from train import train

    path = BAD_FILES[kind](tmp_path / "given" / "model.ckpt")
    cfg = compose_config("train", with_overrides(QUICK, f"ckpt_path={path}"), tmp_path)
    with pytest.raises(ValueError) as refused:
        train(cfg)
    message = _one_line(refused.value)
    assert f"ckpt_path={path}" in message
    assert not (tmp_path / "run" / "config_resolved.yaml").exists()


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_auto_resume_reads_through_the_reader_and_offers_resume_false(
    tmp_path: Path, kind: str
) -> None:
    from train import train

    last = BAD_FILES[kind](tmp_path / "run" / "checkpoints" / "last.ckpt")
    with pytest.raises(ValueError) as refused:
        train(compose_config("train", QUICK, tmp_path))
    message = _one_line(refused.value)
    assert str(last) in message and "resume=false" in message
    assert not (tmp_path / "run" / "config_resolved.yaml").exists()


@pytest.mark.parametrize("kind", BAD_FOR_EVALUATION)
def test_evaluate_reads_through_the_reader(tmp_path: Path, kind: str) -> None:
    from evaluate import evaluate

    path = BAD_FILES[kind](tmp_path / "given" / "model.pt")
    overrides = [f"ckpt={path}", "data.test_sets=[embedded]", "data.num_workers=0"]
    with pytest.raises(ValueError) as refused:
        evaluate(compose_config("evaluate", overrides, tmp_path))
    assert str(path) in _one_line(refused.value)


@pytest.mark.parametrize("kind", BAD_FOR_EVALUATION)
def test_restore_reads_through_the_reader(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from panet.cli.restore import main
    from tests.panet.cli.test_restore import restore_args, write_rgb

    path = BAD_FILES[kind](tmp_path / "given" / "model.pt")
    photo = write_rgb(tmp_path / "x.png")
    assert main(restore_args(path, "denoise", [photo], tmp_path / "out")) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(path) in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("a folder", "is a folder"),
        ("an empty file", "is empty"),
        ("a truncated file", "truncated"),
        ("random bytes", "not a PyTorch checkpoint"),
    ],
)
def test_the_reader_says_what_is_wrong(tmp_path: Path, kind: str, reason: str) -> None:
    from panet.checkpoints import read_checkpoint

    path = BAD_FILES[kind](tmp_path / "model.ckpt")
    with pytest.raises(ValueError, match=reason):
        read_checkpoint(path)
