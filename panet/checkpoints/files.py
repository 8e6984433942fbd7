"""Reading checkpoint files safely: ``torch.load(..., weights_only=True)`` (no code runs), clear
errors for missing, truncated, corrupt or code-carrying files, and the tensor dict of a bare or
nested state dict."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

_KEY_LIST_LIMIT = 12

StateDict = dict[str, Tensor]


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read or does not fit the requested network."""


def read_checkpoint(path: str | os.PathLike) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU with clear errors for a missing,
    truncated, corrupt or code-carrying file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    if not _looks_like_torch_file(path):
        raise CheckpointError(
            f"cannot read {path}: it is not a PyTorch checkpoint (neither torch.save's zip "
            f"archive nor a pickle; empty, random or another format). Pass the .pt/.pth/.ckpt "
            f"file that holds the weights."
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # Only a refused global means code-carrying objects; other unpickler errors (e.g.
        # "Unsupported operand") are bytes that are not a valid pickle.
        if "unsupported global" in str(error).lower():
            raise CheckpointError(
                f"{path} holds Python objects other than tensors and plain containers; "
                "refusing to unpickle them (weights_only=True). Re-save its state_dict only."
            ) from error
        raise CheckpointError(f"cannot read {path}: the file is corrupt ({error})") from error
    except Exception as error:  # torch raises RuntimeError, EOFError, KeyError... on bad bytes
        raise CheckpointError(
            f"cannot read {path}: the file is truncated or corrupt "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
        ) from error


#: torch.save writes a zip archive; the legacy format and plain pickles start with PROTO (0x80).
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = b"\x80"


def _looks_like_torch_file(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(4)
    return head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_PROTO)


def extract_state_dict(payload: Any, source: str = "checkpoint") -> StateDict:
    """The tensor dict of a bare state dict or one nested under ``state_dict``/``model``,
    with a DataParallel ``module.`` prefix removed."""
    for _ in range(2):  # e.g. {"model": {"state_dict": ...}}
        if isinstance(payload, Mapping):
            nested = [payload[k] for k in ("state_dict", "model") if k in payload]
            if nested and isinstance(nested[0], Mapping):
                payload = nested[0]
    if not isinstance(payload, Mapping) or not payload:
        raise CheckpointError(f"{source} holds no state dict (got {type(payload).__name__})")
    not_tensors = [k for k, v in payload.items() if not isinstance(v, Tensor)]
    if not_tensors:
        raise CheckpointError(
            f"{source} is not a state dict: entries {format_keys(not_tensors)} are not tensors"
        )
    return {str(k).removeprefix("module."): v for k, v in payload.items()}


def format_keys(keys: Iterable[str]) -> str:
    """The sorted keys as ``[a, b, ... (+N more)]``, at most a dozen shown."""
    keys = sorted(keys)
    shown = ", ".join(keys[:_KEY_LIST_LIMIT])
    more = len(keys) - _KEY_LIST_LIMIT
    return f"[{shown}{f', ... (+{more} more)' if more > 0 else ''}]"
