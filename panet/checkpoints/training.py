"""The checkpoint a training run continues from, read through the one reader.

``train.py`` continues from an explicit ``ckpt_path=`` or, when its run folder holds one, from
``checkpoints/last.ckpt``. Both go through ``read_checkpoint`` (folder, missing, empty,
truncated, corrupt, code-carrying files: one line each) and must then hold what Lightning
needs to continue (``TRAINING_KEYS``): a bare state dict, a network file or a weights-only
checkpoint is refused before anything is written, naming the file and the way out.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from panet.checkpoints.files import CheckpointError, read_checkpoint
from panet.checkpoints.network_file import FORMAT_NAME

#: What a Lightning checkpoint must hold for training to continue from it.
TRAINING_KEYS: tuple[str, ...] = (
    "pytorch-lightning_version",
    "state_dict",
    "optimizer_states",
    "lr_schedulers",
    "loops",
    "global_step",
    "epoch",
)
#: The checkpoints train.py writes, named in messages.
TRAINING_CHECKPOINTS = "a run's checkpoints/last.ckpt or best.ckpt"


def training_checkpoint_problem(payload: Any) -> str | None:
    """Why training cannot continue from a loaded checkpoint (None when it can)."""
    if isinstance(payload, Mapping) and "pytorch-lightning_version" in payload:
        missing = [k for k in TRAINING_KEYS if k not in payload]
        if not missing:
            return None
        return (
            f"this Lightning checkpoint lacks {', '.join(missing)} (saved with weights only?), "
            f"so training cannot continue from it"
        )
    if isinstance(payload, Mapping) and payload.get("format") == FORMAT_NAME:
        return "it is a network file (architecture and weights only), not a train.py checkpoint"
    if (
        isinstance(payload, Mapping)
        and payload
        and all(isinstance(v, Tensor) for v in payload.values())
    ):
        return "it holds a bare state dict (weights only), not a train.py checkpoint"
    return "it is not a train.py checkpoint (no Lightning training state)"


def read_training_checkpoint(
    path: str | os.PathLike[str], *, resuming: bool, run_dir: str | os.PathLike[str] = ""
) -> Mapping[str, Any]:
    """The checkpoint at ``path`` (tensors memory-mapped) when training can continue from it.

    Raises ``CheckpointError`` in one line naming the file: for an explicit ``ckpt_path=``
    (``resuming`` False) with the checkpoints that work; for the automatic resume of the run in
    ``run_dir`` (``resuming`` True) with ``resume=false`` and ``run_name=`` as the ways out.
    """
    try:
        payload = read_checkpoint(path, mmap=True)
        reason = training_checkpoint_problem(payload)
    except CheckpointError as error:
        reason = error.reason
    except FileNotFoundError:
        reason = "there is no such file"
    except OSError as error:  # e.g. no permission to read it
        reason = error.strerror or str(error)
    if reason is None:
        return payload
    if resuming:
        raise CheckpointError(
            f"cannot resume the run in {run_dir or Path(path).parent} from {path}: {reason}. "
            f"Start over in this folder with resume=false (its checkpoints are replaced), or "
            f"keep it and train elsewhere with run_name=<another name>"
        )
    raise CheckpointError(
        f"ckpt_path={path} cannot be trained from: {reason}. Give a checkpoint written by "
        f"train.py ({TRAINING_CHECKPOINTS}), or leave ckpt_path unset"
    )


__all__ = ["TRAINING_KEYS", "read_training_checkpoint", "training_checkpoint_problem"]
