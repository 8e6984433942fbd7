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
    """A checkpoint file that cannot be read or does not fit the requested network.

    ``reason``: what is wrong with the file, without its name or advice (for callers that
    compose their own one-line message around it); the message otherwise.
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


def _unreadable(path: Path, reason: str, advice: str = "") -> CheckpointError:
    return CheckpointError(f"cannot read {path}: {reason}{f'. {advice}' if advice else ''}", reason)


def read_checkpoint(path: str | os.PathLike, *, mmap: bool = False) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU with clear one-line errors for a folder, a
    missing, empty, truncated, corrupt or code-carrying file: the one reader of every
    checkpoint (train.py's ``ckpt_path=`` and resume, evaluate.py, restore, the official
    weights). ``mmap``: map the tensors instead of reading them (zip archives only), for a
    look at what a large file holds."""
    path = Path(path)
    if path.is_dir():
        raise _unreadable(
            path, "it is a folder, not a checkpoint file", "Pass the .pt/.pth/.ckpt file itself"
        )
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    if path.stat().st_size == 0:
        raise _unreadable(path, "the file is empty (0 bytes: a copy or a save that did not finish)")
    kind = _torch_file_kind(path)
    if kind is None:
        raise _unreadable(
            path,
            "it is not a PyTorch checkpoint (neither torch.save's zip archive nor a pickle; "
            "random bytes or another format)",
            "Pass the .pt/.pth/.ckpt file that holds the weights.",
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap and kind == "zip")
    except pickle.UnpicklingError as error:
        # Only a refused global means code-carrying objects; other unpickler errors (e.g.
        # "Unsupported operand") are bytes that are not a valid pickle.
        if "unsupported global" in str(error).lower():
            reason = "it holds Python objects other than tensors and plain containers"
            raise CheckpointError(
                f"{path} holds Python objects other than tensors and plain containers; "
                "refusing to unpickle them (weights_only=True). Re-save its state_dict only.",
                reason,
            ) from error
        raise _unreadable(path, f"the file is corrupt ({_unpickler_reason(error)})") from error
    except Exception as error:  # torch raises RuntimeError, EOFError, KeyError... on bad bytes
        detail = str(error).splitlines()[0] if str(error) else ""
        raise _unreadable(
            path, f"the file is truncated or corrupt ({type(error).__name__}: {detail})"
        ) from error


def _unpickler_reason(error: Exception) -> str:
    """The unpickler's own words from torch's long weights-only message (one line)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith("WeightsUnpickler error") and i + 1 < len(lines):
            return lines[i + 1] if line.endswith(":") else line
    return lines[0] if lines else type(error).__name__


#: torch.save writes a zip archive; the legacy format and plain pickles start with PROTO (0x80).
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = b"\x80"


def _torch_file_kind(path: Path) -> str | None:
    """ "zip" (torch.save's archive), "pickle" (legacy format or plain pickle) or None."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    return "pickle" if head.startswith(_PICKLE_PROTO) else None


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
