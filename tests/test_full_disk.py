"""A full disk during any atomic write -- a checkpoint above all -- ends in one line that says
"no space left on <device> ..." and that the previous file is intact, and it is: simulated (the
disk fills during the write, or only at fsync, as with delayed allocation) for every writer, on
a real full file system where the machine allows a private tmpfs, and in a training run."""

from __future__ import annotations

import errno
import os
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from callbacks.atomic_checkpoint_io import AtomicCheckpointIO
from panet.atomic import TEMP_PREFIX, write_text_atomic
from panet.checkpoints import save_network
from panet.imaging.io import write_png
from panet.models.registry import build_network
from tests.run_helpers import (
    TINY_CHECKPOINTED,
    compose_config,
    run_in_mount_namespace,
    with_overrides,
)


def _enospc() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _FillingFile:
    """A file object whose disk is full after ``room`` more bytes."""

    def __init__(self, handle: Any, room: int) -> None:
        self._handle, self._room = handle, room

    def write(self, data: bytes) -> int:
        if len(data) > self._room:
            raise _enospc()
        self._room -= len(data)
        return self._handle.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> _FillingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


def _is_temporary(fd: int) -> bool:
    return Path(os.readlink(f"/proc/self/fd/{fd}")).name.startswith(TEMP_PREFIX)


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """``full_disk("write")``: the temporary file of an atomic write runs out of space after a
    few bytes; ``full_disk("fsync")``: every write is taken but fsync reports ENOSPC."""

    def fill(when: str) -> None:
        if when == "write":
            real_fdopen = os.fdopen

            def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
                handle = real_fdopen(fd, *args, **kwargs)
                return _FillingFile(handle, 64) if _is_temporary(fd) else handle

            monkeypatch.setattr(os, "fdopen", fdopen)
        else:
            real_fsync = os.fsync

            def fsync(fd: int) -> None:
                if _is_temporary(fd):
                    raise _enospc()
                real_fsync(fd)

            monkeypatch.setattr(os, "fsync", fsync)

    return fill


def _checkpoint(path: Path, step: int) -> None:
    AtomicCheckpointIO().save_checkpoint(
        {"global_step": step, "state_dict": {"w": torch.full((4096,), float(step))}}, path
    )


WRITERS: dict[str, Callable[[Path, int], None]] = {
    "checkpoint (Lightning IO)": _checkpoint,
    "network file": lambda path, step: save_network(
        build_network("panet", n_feats=4 + step, n_resblocks=1), path
    ),
    "metrics.json": lambda path, step: write_text_atomic(path, "x" * 1000 * step),
    "PNG": lambda path, step: write_png(torch.rand(3, 40, 40 + step) * 255, path),
}


@pytest.mark.parametrize("when", ["write", "fsync"])
@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_full_disk_keeps_the_previous_file_and_says_so(
    tmp_path: Path, writer: str, when: str, full_disk: Callable[[str], None]
) -> None:
    path = tmp_path / "out" / "result"
    WRITERS[writer](path, 1)
    before = path.read_bytes()
    full_disk(when)
    with pytest.raises(OSError) as failed:
        WRITERS[writer](path, 2)
    message = str(failed.value)
    assert failed.value.errno == errno.ENOSPC
    assert "\n" not in message
    assert message.startswith("no space left on ")
    assert f"writing {path}; the previous result is intact" in message
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["result"]


def test_a_first_write_on_a_full_disk_says_nothing_was_written(
    tmp_path: Path, full_disk: Callable[[str], None]
) -> None:
    full_disk("write")
    with pytest.raises(OSError, match=r"no space left on .*; nothing was written"):
        _checkpoint(tmp_path / "last.ckpt", 1)
    assert not list(tmp_path.iterdir())


REAL_FULL_DISK = textwrap.dedent(
    """
    import sys, torch
    from pathlib import Path
    from callbacks.atomic_checkpoint_io import AtomicCheckpointIO
    path = Path(sys.argv[1]) / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 1, "w": torch.ones(1000)}, path)   # 4 kB: fits
    try:
        io.save_checkpoint({"global_step": 2, "w": torch.ones(10**6)}, path)  # 4 MB: does not
    except OSError as error:
        print("REFUSED", error)
    print("STEP", torch.load(path, weights_only=True)["global_step"])
    print("FILES", sorted(p.name for p in path.parent.iterdir()))
    """
)


def test_a_real_full_file_system(tmp_path: Path) -> None:
    """A 1 MiB tmpfs in a private mount namespace, where the machine allows one."""
    small = tmp_path / "small"
    small.mkdir()
    result = run_in_mount_namespace(
        f"mount -t tmpfs -o size=1m tmpfs {small}", REAL_FULL_DISK, str(small)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert f"REFUSED no space left on tmpfs (mounted at {small}" in out, out
    assert "the previous last.ckpt is intact" in out
    assert "STEP 1" in out and "FILES ['last.ckpt']" in out


@pytest.mark.slow
def test_a_training_run_on_a_full_disk_stops_with_the_message_and_keeps_last_ckpt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from train import train

    real_fdopen = os.fdopen
    saves = []

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        handle = real_fdopen(fd, *args, **kwargs)
        if Path(os.readlink(f"/proc/self/fd/{fd}")).name.startswith(f"{TEMP_PREFIX}last.ckpt"):
            saves.append(fd)
            if len(saves) >= 3:  # the disk fills up before the third save of last.ckpt
                return _FillingFile(handle, 1024)
        return handle

    monkeypatch.setattr(os, "fdopen", fdopen)
    overrides = with_overrides(TINY_CHECKPOINTED, "trainer.max_steps=4")
    with pytest.raises(OSError) as failed:
        train(compose_config("train", overrides, tmp_path))
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    message = str(failed.value)
    assert message.startswith("no space left on ")
    assert f"writing {last}; the previous last.ckpt is intact" in message
    assert torch.load(last, weights_only=True)["global_step"] == 2
    assert not [p for p in last.parent.iterdir() if p.name.startswith(TEMP_PREFIX)]
