"""Network weights on disk: the authors' released checkpoints and our own format.

``load_official`` maps the authors' state dicts (PANet, PA-EDSR, EDSR) onto our networks and
checks them strictly: every missing, unexpected or wrongly shaped tensor is an error that lists
the offending keys and the architecture arguments the file would fit. ``save_network`` /
``load_network`` store the architecture name and arguments beside the weights, so the file alone
rebuilds the network. Files are always read with ``weights_only=True`` (no code execution).
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from panet.attention import fastest_implementation
from panet.blocks import POSITIONS, insert_attention
from panet.networks import build_network

FORMAT_NAME = "panet-lab-network"
FORMAT_VERSION = 1
#: Architectures with released official weights that ``load_official`` understands.
OFFICIAL_ARCHITECTURES = ("panet", "pa_edsr", "edsr")
_MEAN_SHIFT_PREFIXES = ("sub_mean.", "add_mean.")
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
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights only" in str(error).lower():
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
            f"{source} is not a state dict: entries {_format_keys(not_tensors)} are not tensors"
        )
    return {str(k).removeprefix("module."): v for k, v in payload.items()}


def _format_keys(keys: Iterable[str]) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:_KEY_LIST_LIMIT])
    more = len(keys) - _KEY_LIST_LIMIT
    return f"[{shown}{f', ... (+{more} more)' if more > 0 else ''}]"


def _body_indices(state: Mapping[str, Tensor], leaf: str) -> list[int]:
    """Sorted indices ``i`` of ``body.{i}.<leaf>`` keys."""
    pattern = re.compile(rf"^body\.(\d+)\.{re.escape(leaf)}$")
    return sorted(int(m.group(1)) for k in state if (m := pattern.match(k)))


def _infer_positions(n_blocks: int, attention_indices: list[int]) -> tuple[str, ...] | None:
    """The positions whose layout puts attention at ``attention_indices`` in the body."""
    # Single positions first, "mid" (the paper's) before the rest: with few blocks several
    # layouts coincide and the paper's is the likelier reading.
    subsets = [("mid",), (), ("pre",), ("post",)]
    subsets += [(a, b) for i, a in enumerate(POSITIONS) for b in POSITIONS[i + 1 :]]
    subsets.append(POSITIONS)
    for subset in subsets:
        layout = insert_attention([None] * n_blocks, subset, lambda: "attention")
        if [i for i, m in enumerate(layout) if m == "attention"] == attention_indices:
            return subset
    return None


def infer_arch_args(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """Architecture arguments readable from the tensors of a state dict (in our layout or the
    authors'): ``n_colors``, ``n_feats``, ``n_resblocks``, ``positions``, ``reduction``,
    ``scale``, and a guess of ``arch``. Arguments not stored in weights (levels, patch size)
    are not included."""
    found: dict[str, Any] = {}
    head = state.get("head.0.weight")
    if head is not None and head.dim() == 4:
        found["n_feats"], found["n_colors"] = int(head.shape[0]), int(head.shape[1])
    blocks = _body_indices(state, "body.0.weight")
    attentions = _body_indices(state, "conv_match.0.weight")
    if blocks:
        found["n_resblocks"] = len(blocks)
        positions = _infer_positions(len(blocks), attentions)
        if positions is not None:
            found["positions"] = positions
    if attentions and "n_feats" in found:
        embed = state[f"body.{attentions[0]}.conv_match.0.weight"].shape[0]
        found["reduction"] = found["n_feats"] // max(int(embed), 1)
    upsampler = sorted(
        int(m.group(1)) for k in state if (m := re.match(r"^tail\.0\.(\d+)\.weight$", k))
    )
    if upsampler and "n_feats" in found:
        first = state[f"tail.0.{upsampler[0]}.weight"].shape[0]
        found["scale"] = 3 if first == 9 * found["n_feats"] else 2 ** len(upsampler)
        found["arch"] = "pa_edsr" if attentions or "msa.conv_match.0.weight" in state else "edsr"
    elif head is not None:
        found["arch"] = "panet"
    return found


def _describe_fit(state: Mapping[str, Tensor]) -> str:
    args = infer_arch_args(state)
    if not args:
        return "no architecture could be recognised from its keys"
    return "the file fits " + ", ".join(f"{k}={v!r}" for k, v in args.items())


def check_state_dict(net: nn.Module, state: Mapping[str, Tensor], source: str) -> None:
    """Raise CheckpointError unless ``state`` has exactly ``net``'s keys and shapes; the message
    lists missing, unexpected and mis-shaped keys and the arguments the file would fit."""
    expected = net.state_dict()
    missing = set(expected) - set(state)
    unexpected = set(state) - set(expected)
    misshaped = [
        f"{k}: file {tuple(state[k].shape)} vs network {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(state))
        if state[k].shape != expected[k].shape
    ]
    if not (missing or unexpected or misshaped):
        return
    problems = []
    if missing:
        problems.append(f"missing keys {_format_keys(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_format_keys(unexpected)}")
    if misshaped:
        problems.append(f"wrongly shaped tensors {_format_keys(misshaped)}")
    arch_args = getattr(net, "arch_args", {})
    raise CheckpointError(
        f"{source} does not fit {getattr(net, 'arch', type(net).__name__)}({arch_args}): "
        + "; ".join(problems)
        + f". Hint: {_describe_fit(state)}."
    )


def _load_exactly(net: nn.Module, state: Mapping[str, Tensor], source: str) -> None:
    """Strict check, load, then make sure tensors the network shares (e.g. PANet's single
    PReLU) were equal in the file rather than silently overwritten."""
    check_state_dict(net, state, source)
    net.load_state_dict(state, strict=True)
    loaded = net.state_dict()
    differing = [k for k, v in state.items() if not torch.equal(loaded[k], v.to(loaded[k].dtype))]
    if differing:
        raise CheckpointError(
            f"{source}: tensors {_format_keys(differing)} are shared by the network but differ "
            "in the file, so it was not made by this architecture"
        )


def official_to_ours(state: Mapping[str, Tensor], arch: str) -> StateDict:
    """Map the authors' key layout onto ours.

    PANet: drops the unused ``sub_mean``/``add_mean`` entries. PA-EDSR: the attention is
    registered twice in the authors' model (``msa.*`` and ``body.{R/2}.*``); the two copies
    must be equal and ``msa.*`` is dropped. Other keys are identical.
    """
    mapped = dict(state)
    if arch == "panet":
        mapped = {k: v for k, v in mapped.items() if not k.startswith(_MEAN_SHIFT_PREFIXES)}
    duplicated = {k.removeprefix("msa."): v for k, v in mapped.items() if k.startswith("msa.")}
    if duplicated:
        attentions = _body_indices(mapped, "conv_match.0.weight")
        if len(attentions) != 1:
            raise CheckpointError(
                f"the file has msa.* keys but {len(attentions)} attention modules in its body "
                "(expected exactly one, body.{R/2})"
            )
        prefix = f"body.{attentions[0]}."
        for leaf, tensor in duplicated.items():
            twin = mapped.get(prefix + leaf)
            if twin is None or twin.shape != tensor.shape or not torch.equal(twin, tensor):
                raise CheckpointError(
                    f"msa.{leaf} and {prefix}{leaf} must be the same tensor (the authors "
                    "register the attention twice) but differ or one is missing"
                )
        mapped = {k: v for k, v in mapped.items() if not k.startswith("msa.")}
    return mapped


def load_official(path: str | os.PathLike, arch: str, **arch_args: Any) -> nn.Module:
    """The authors' network with their released weights, in eval mode.

    Args:
        path: a ``.pt`` file from the authors (bare state dict, or nested under
            ``state_dict``/``model``; ``module.`` prefixes are fine).
        arch: ``"panet"`` (denoising, demosaicing, CAR), ``"pa_edsr"`` (SR) or ``"edsr"``.
        **arch_args: constructor arguments of the network, e.g. ``n_resblocks=80``,
            ``n_colors=1``, ``scale=2``; ``attention_impl`` defaults to the fastest exact
            implementation available.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError (a ValueError): unreadable file, or any missing, unexpected or wrongly
            shaped tensor (listed, with the architecture arguments that would fit).
    """
    if arch not in OFFICIAL_ARCHITECTURES:
        raise ValueError(f"arch must be one of {OFFICIAL_ARCHITECTURES} for official weights")
    arch_args.setdefault("attention_impl", fastest_implementation())
    state = extract_state_dict(read_checkpoint(path), source=str(path))
    net = build_network(arch, **arch_args)
    _load_exactly(net, official_to_ours(state, arch), source=str(path))
    return net.eval()


def save_network(net: nn.Module, path: str | os.PathLike) -> Path:
    """Write ``net`` (its ``arch``, ``arch_args`` and state dict) to ``path`` atomically
    (temporary file in the same folder, then ``os.replace``). Returns the path."""
    for attribute in ("arch", "arch_args"):
        if not hasattr(net, attribute):
            raise ValueError(f"{type(net).__name__} has no `{attribute}`; cannot save it")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "arch": net.arch,
        "arch_args": dict(net.arch_args),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
    }
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(payload, stream)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def load_network(path: str | os.PathLike, attention_impl: str | None = None) -> nn.Module:
    """Rebuild and load a network written by ``save_network``; returned in eval mode.

    ``attention_impl`` overrides the stored attention implementation (all are exact).
    """
    payload = read_checkpoint(path)
    if not isinstance(payload, Mapping) or payload.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{path} is not a {FORMAT_NAME} file; for the authors' weights use "
            "panet.checkpoints.load_official(path, arch, ...)"
        )
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format version {payload['format_version']}, newer than this code "
            f"({FORMAT_VERSION}); update panet-lab"
        )
    arch_args = dict(payload["arch_args"])
    if attention_impl is not None and "attention_impl" in arch_args:
        arch_args["attention_impl"] = attention_impl
    net = build_network(payload["arch"], **arch_args)
    stored = payload.get("state_dict")
    state = extract_state_dict(stored, source=str(path)) if stored else {}
    _load_exactly(net, state, source=str(path))
    return net.eval()
