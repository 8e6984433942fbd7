"""Checkpoint writing that never leaves a truncated file behind.

Lightning's default ``TorchCheckpointIO`` streams the checkpoint into its final path, so a job
killed mid-write (SLURM time limit, OOM killer, preemption) can leave a corrupt ``last.ckpt``
that the next run then fails to resume from. ``AtomicCheckpointIO`` serializes to a temporary
file in the destination folder, flushes it to disk, and renames it over the destination with
``os.replace`` (atomic on POSIX within one file system): readers see either the previous
complete checkpoint or the new complete one, never a mix.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.utilities.cloud_io import _is_local_file_protocol
from pytorch_lightning.plugins.io import TorchCheckpointIO

#: Prefix of the temporary files; a crash can leave one behind, never a partial checkpoint.
TEMP_PREFIX = ".tmp-"


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save(obj, path)`` through a same-folder temporary file and ``os.replace``.

    The temporary file is fsynced before the rename and the folder after it, so the new file
    survives a power loss once this returns. On any error the temporary file is removed and
    the previous content of ``path`` (if any) is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX + path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(path.parent)


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


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose local saves are atomic (see ``atomic_torch_save``).

    Use as a Trainer plugin: ``Trainer(plugins=[AtomicCheckpointIO()])``. Remote paths
    (``s3://`` etc.) fall back to Lightning's own fsspec transaction.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike[str], storage_options: Any = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(
                f"{type(self).__name__} does not take storage_options; got {storage_options!r}"
            )
        if not _is_local_file_protocol(path):
            super().save_checkpoint(checkpoint, path)
            return
        atomic_torch_save(checkpoint, path)
