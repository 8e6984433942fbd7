"""The one way this project writes a file that someone may read while it is being written.

Checkpoints, network files, PNGs, ``metrics.json``, the resolved config and the multirun
summary all go through ``atomic_write``: the bytes go to a temporary file in the destination
folder, which is flushed and fsynced and then renamed over the destination with ``os.replace``
(atomic on POSIX within one file system), and the folder is fsynced so the rename survives a
power loss. A reader therefore sees the previous complete file or the new complete one, never a
torn one, also when a job is killed mid-write (SLURM time limit, OOM killer) or when parallel
sweep jobs rewrite the same summary.

A full disk (or quota) during such a write is one ``DiskFullError`` (an ``OSError``, errno
ENOSPC) saying where: ``no space left on <device> (mounted at <folder>, <free> free) writing
<path>; the previous <name> is intact``, whatever layer noticed it first (torch's zip writer
turns the ENOSPC of a checkpoint into an opaque ``RuntimeError``; delayed allocation reports it
only at fsync).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

#: Prefix of the temporary files; a crash can leave one behind, never a partial destination.
TEMP_PREFIX = ".tmp-"
#: The errors of a file system with no room left for this user.
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


class DiskFullError(OSError):
    """No space was left to write a file; the previous content of the file is untouched."""

    def __str__(self) -> str:  # the message alone, without OSError's "[Errno 28] " prefix
        return str(self.strerror)


def no_space_cause(error: BaseException) -> OSError | None:
    """The ENOSPC/EDQUOT ``OSError`` behind ``error`` (itself or in its chain), else None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _NO_SPACE:
            return current
        current = current.__cause__ or current.__context__
    return None


def mount_of(path: str | os.PathLike[str]) -> tuple[str, Path]:
    """``(device, mount point)`` of the file system that holds ``path`` (Linux's mount table;
    elsewhere the device is the mount point)."""
    folder = Path(path).resolve()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    mount = folder
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    device = str(mount)
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 1 and fields[1].replace("\\040", " ") == str(mount):
                device = fields[0]  # the last entry of a mount point is the visible one
    return device, mount


def disk_full_message(path: str | os.PathLike[str], *, previous_kept: bool) -> str:
    """``no space left on <device> (mounted at <folder>, <free> free) writing <path>; ...``"""
    path = Path(path)
    device, mount = mount_of(path.parent)
    try:
        free = f"{shutil.disk_usage(mount).free / 2**20:.1f} MiB free"
    except OSError:
        free = "free space unknown"
    kept = f"the previous {path.name} is intact" if previous_kept else "nothing was written"
    return (
        f"no space left on {device} (mounted at {mount}, {free}) writing {path}; {kept}. Free "
        f"some space there (or write elsewhere) and run the command again"
    )


@contextlib.contextmanager
def explain_disk_full(path: str | os.PathLike[str], *, previous_kept: bool) -> Iterator[None]:
    """Turn a full disk met while writing ``path`` into one ``DiskFullError``."""
    try:
        yield
    except BaseException as error:
        cause = no_space_cause(error)
        if cause is None or isinstance(error, DiskFullError):
            raise
        raise DiskFullError(
            cause.errno, disk_full_message(path, previous_kept=previous_kept)
        ) from error


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary stream whose content replaces ``path`` when the block exits without error.

    Parent folders are created. On any error (or interruption) the temporary file is removed
    and the previous content of ``path``, if any, is left untouched.
    """
    path = Path(path)
    with explain_disk_full(path, previous_kept=path.exists()):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
    _fsync_directory(path.parent)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_write`; returns the path."""
    with atomic_write(path) as handle:
        handle.write(text.encode("utf-8"))
    return Path(path)


def _fsync_directory(folder: Path) -> None:
    """Persist a rename in ``folder`` (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (e.g. certain network mounts) refuse fsync on directories
    finally:
        os.close(fd)
