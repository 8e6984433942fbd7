"""The decoded-image cache is keyed by content and survives the faults of a shared machine:
a file replaced with its size and mtime kept, a build killed with SIGKILL, a read-only
cache folder."""

from __future__ import annotations

import builtins
import errno
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from data.cache import MappedImages, cache_key
from data.sources import ImageFolder
from tests.run_helpers import REPO_ROOT, run_in_mount_namespace


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    root.mkdir()
    rng = np.random.default_rng(3)
    for name in ("a", "b", "c"):
        pixels = rng.integers(0, 256, size=(24, 20, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"{name}.bmp")  # BMP: same size for any pixels
    return root


def _keep_stat(path: Path, change) -> None:  # noqa: ANN001
    """Apply ``change`` to the file and give it back its size and modification time."""
    stat = path.stat()
    change()
    assert path.stat().st_size == stat.st_size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _replace_image(folder: Path) -> None:
    new = np.full((24, 20, 3), 7, np.uint8)
    _keep_stat(folder / "a.bmp", lambda: Image.fromarray(new).save(folder / "a.bmp"))


def _edit_bytes_in_place(folder: Path) -> None:
    def flip_last_pixel() -> None:
        data = bytearray((folder / "a.bmp").read_bytes())
        data[-1] ^= 0xFF
        (folder / "a.bmp").write_bytes(bytes(data))

    _keep_stat(folder / "a.bmp", flip_last_pixel)


def _swap_two_files(folder: Path) -> None:
    a, b = (folder / "a.bmp").read_bytes(), (folder / "b.bmp").read_bytes()
    _keep_stat(folder / "a.bmp", lambda: (folder / "a.bmp").write_bytes(b))
    _keep_stat(folder / "b.bmp", lambda: (folder / "b.bmp").write_bytes(a))


def _copy_over_with_cp_p(folder: Path) -> None:  # what `cp -p` / `rsync -t` do
    other = folder.parent / "other.bmp"
    Image.fromarray(np.full((24, 20, 3), 200, np.uint8)).save(other)
    stat = (folder / "c.bmp").stat()
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    shutil.copy2(other, folder / "c.bmp")


CHANGES = {
    "replaced, size and mtime restored": _replace_image,
    "bytes edited in place, mtime restored": _edit_bytes_in_place,
    "two files swapped, mtimes restored": _swap_two_files,
    "cp -p of another image over it": _copy_over_with_cp_p,
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_changed_file_is_never_served_from_the_old_cache(
    folder: Path, tmp_path: Path, change: str
) -> None:
    first = MappedImages.build(ImageFolder(folder), tmp_path / "cache")
    CHANGES[change](folder)
    files = ImageFolder(folder)
    rebuilt = MappedImages.build(files, tmp_path / "cache")
    assert rebuilt.data_file != first.data_file
    for i in range(len(files)):
        assert torch.equal(rebuilt.load_uint8(i), files.load_uint8(i)), files.names[i]


def test_unchanged_content_reuses_the_cache_whatever_the_mtime(
    folder: Path, tmp_path: Path
) -> None:
    first = MappedImages.build(ImageFolder(folder), tmp_path / "cache")
    os.utime(folder / "a.bmp", ns=(1, 1))  # `touch`: same bytes
    assert cache_key(ImageFolder(folder)) in first.data_file.name
    again = MappedImages.build(ImageFolder(folder), tmp_path / "cache")
    assert again.data_file == first.data_file


KILLED_BUILD = textwrap.dedent(
    """
    import sys, time
    from data.cache import MappedImages
    from data.sources import ImageFolder

    files = ImageFolder(sys.argv[1])
    decode = files.load_uint8

    def slow(index):
        if index == 1:
            print("writing", flush=True)
            time.sleep(120)
        return decode(index)

    files.load_uint8 = slow
    MappedImages.build(files, sys.argv[2])
    """
)


def test_a_build_killed_with_sigkill_leaves_no_orphan_after_the_next_build(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    builder = subprocess.Popen(
        [sys.executable, "-c", KILLED_BUILD, str(folder), str(cache)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert builder.stdout.readline().strip() == "writing"
    finally:
        builder.send_signal(signal.SIGKILL)
        builder.wait(timeout=60)
    orphans = [p for p in cache.iterdir() if ".tmp" in p.name]
    assert orphans, sorted(p.name for p in cache.iterdir())

    MappedImages.build(ImageFolder(folder), cache)
    assert not [p for p in cache.iterdir() if ".tmp" in p.name]
    assert "removed" in capsys.readouterr().err


@pytest.mark.parametrize("cached", [False, True])
def test_orphans_of_other_caches_go_too_but_not_a_build_in_progress(
    folder: Path, tmp_path: Path, cached: bool
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    if cached:  # the next use of the folder finds its own cache complete
        MappedImages.build(ImageFolder(folder), cache)
    dead, alive = "0" * 24, "f" * 24
    (cache / f"{dead}.lock").touch()
    (cache / f"{dead}.u8.tmp4242").write_bytes(b"half")
    (cache / f".tmp-{dead}.json.k1ll3d").write_bytes(b"{")
    (cache / f"{alive}.u8.tmp4343").write_bytes(b"being written")
    with open(cache / f"{alive}.lock", "a") as held:  # another builder holds its lock
        fcntl.flock(held, fcntl.LOCK_EX)
        MappedImages.build(ImageFolder(folder), cache)
    left = sorted(p.name for p in cache.iterdir() if ".tmp" in p.name)
    assert left == [f"{alive}.u8.tmp4343"]


@pytest.fixture
def read_only(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Make a folder read-only for this process (as a read-only mount would: EROFS), whoever
    runs the tests (root ignores file modes)."""
    folders: list[Path] = []

    def inside(path: object) -> bool:
        try:
            resolved = Path(os.fsdecode(path)).resolve()
        except TypeError:
            return False
        return any(resolved == f or f in resolved.parents for f in folders)

    def refuse(path: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))

    real_open, real_os_open = builtins.open, os.open

    def guarded_open(file, mode="r", *args, **kwargs):  # noqa: ANN001, ANN202
        path_like = isinstance(file, str | bytes | os.PathLike)
        if path_like and set(mode) & set("wax+") and inside(file):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):  # noqa: ANN001, ANN202
        writing = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if writing and inside(path):
            refuse(path)
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    return lambda folder: folders.append(Path(folder).resolve())


def test_a_read_only_cache_folder_with_a_valid_cache_is_used(
    folder: Path, tmp_path: Path, read_only
) -> None:  # noqa: ANN001
    built = MappedImages.build(ImageFolder(folder), tmp_path / "cache")
    for stale_lock in (tmp_path / "cache").glob("*.lock"):
        stale_lock.unlink()  # a cache copied elsewhere carries no lock file
    read_only(tmp_path / "cache")
    files = ImageFolder(folder)
    used = MappedImages.build(files, tmp_path / "cache")
    assert used.data_file == built.data_file
    assert all(torch.equal(used.load_uint8(i), files.load_uint8(i)) for i in range(len(files)))


def test_a_read_only_cache_folder_without_the_cache_is_one_line(
    folder: Path, tmp_path: Path, read_only
) -> None:  # noqa: ANN001
    (tmp_path / "cache").mkdir()
    read_only(tmp_path / "cache")
    with pytest.raises(ValueError) as refused:
        MappedImages.build(ImageFolder(folder), tmp_path / "cache")
    message = str(refused.value)
    assert "\n" not in message
    assert str(tmp_path / "cache") in message and "read-only" in message
    assert "data.cache_dir" in message


def test_a_real_read_only_mount(folder: Path, tmp_path: Path) -> None:
    """The same two cases on a real read-only bind mount, where the machine allows one."""
    cache = tmp_path / "cache"
    MappedImages.build(ImageFolder(folder), cache)
    (tmp_path / "empty").mkdir()
    code = (
        "import sys\n"
        "from data.cache import MappedImages\n"
        "from data.sources import ImageFolder\n"
        f"MappedImages.build(ImageFolder({str(folder)!r}), {str(cache)!r})\n"
        "try:\n"
        f"    MappedImages.build(ImageFolder({str(folder)!r}), {str(tmp_path / 'empty')!r})\n"
        "except ValueError as e:\n"
        "    print('REFUSED', e)\n"
    )
    mounts = " && ".join(f"mount --bind -o ro {d} {d}" for d in (cache, tmp_path / "empty"))
    result = run_in_mount_namespace(mounts, code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "REFUSED" in result.stdout and "read-only" in result.stdout


def test_a_full_disk_during_the_build_is_one_line_and_leaves_nothing(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = builtins.open

    class Full:
        def __init__(self, handle) -> None:  # noqa: ANN001
            self.handle = handle

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __enter__(self):  # noqa: ANN204
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

    def filling_open(file, mode="r", *args, **kwargs):  # noqa: ANN001, ANN202
        handle = real_open(file, mode, *args, **kwargs)
        return Full(handle) if ".u8.tmp" in os.fsdecode(file) else handle

    monkeypatch.setattr(builtins, "open", filling_open)
    with pytest.raises(OSError) as failed:
        MappedImages.build(ImageFolder(folder), tmp_path / "cache")
    message = str(failed.value)
    assert message.startswith("no space left on ") and "nothing was written" in message
    assert "\n" not in message
    assert not [p for p in (tmp_path / "cache").iterdir() if p.suffix != ".lock"]
