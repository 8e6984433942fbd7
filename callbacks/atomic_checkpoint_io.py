"""Checkpoint writing that never leaves a truncated file behind.

Lightning's default ``TorchCheckpointIO`` streams the checkpoint into its final path, so a job
killed mid-write (SLURM time limit, OOM killer, preemption) can leave a corrupt ``last.ckpt``
that the next run then fails to resume from. ``AtomicCheckpointIO`` serializes to a temporary
file in the destination folder, flushes it to disk, and renames it over the destination with
``os.replace`` (atomic on POSIX within one file system; ``panet.atomic``): readers see either
the previous complete checkpoint or the new complete one, never a mix.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from lightning_fabric.utilities.cloud_io import _is_local_file_protocol
from pytorch_lightning.plugins.io import TorchCheckpointIO

from panet.atomic import atomic_write


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save(obj, path)`` through ``panet.atomic.atomic_write`` (temporary file, fsync,
    rename, fsync of the folder): the previous content of ``path`` survives any error."""
    with atomic_write(path) as handle:
        torch.save(obj, handle)


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
