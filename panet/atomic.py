"""The one way this project writes a file that someone may read while it is being written.

Checkpoints, network files, PNGs, ``metrics.json``, the resolved config and the multirun
summary all go through ``atomic_write``: the bytes go to a temporary file in the destination
folder, which is flushed and fsynced and then renamed over the destination with ``os.replace``
(atomic on POSIX within one file system), and the folder is fsynced so the rename survives a
power loss. A reader therefore sees the previous complete file or the new complete one, never a
torn one, also when a job is killed mid-write (SLURM time limit, OOM killer) or when parallel
sweep jobs rewrite the same summary.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

#: Prefix of the temporary files; a crash can leave one behind, never a partial destination.
TEMP_PREFIX = ".tmp-"


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary stream whose content replaces ``path`` when the block exits without error.

    Parent folders are created. On any error (or interruption) the temporary file is removed
    and the previous content of ``path``, if any, is left untouched.
    """
    path = Path(path)
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
