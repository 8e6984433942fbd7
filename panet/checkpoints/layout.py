"""Reading a network's architecture arguments off the tensors of a state dict (ours or the
authors' layout), for the hints of strict-loading errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from panet.models.mprnet import variant_of
from panet.models.positions import POSITIONS, insert_attention


def body_indices(state: Mapping[str, Tensor], leaf: str) -> list[int]:
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


def _infer_csnln(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """CSNLN's arguments: features from the head, scale from the SEM cell's layout and kernel
    sizes, depth from the tail's input channels (``n_feats * depth``)."""
    head, tail = state.get("head.0.0.weight"), state.get("tail.0.weight")
    upsample = state.get("SEM.multi_source_projection.upsample.0.weight")
    if head is None or tail is None or upsample is None or head.dim() != 4:
        return {}
    n_feats = int(head.shape[0])
    if "SEM.multi_source_projection_2.upsample.0.weight" in state:
        scale = 4
    else:
        scale = 3 if upsample.shape[-1] == 9 else 2
    found = {"arch": "csnln", "n_colors": int(head.shape[1]), "n_feats": n_feats}
    return found | {"scale": scale, "depth": int(tail.shape[1]) // max(n_feats, 1)}


def infer_mprnet_args(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """MPRNet's arguments read off its tensors (the authors' layout is ours): ``variant`` (the
    authors' variant with these widths, or None), ``n_colors``, the three widths, ``num_cab``
    and ``reduction``; empty when ``state`` is not an MPRNet's."""
    shallow = state.get("shallow_feat1.0.weight")
    down = state.get("stage1_encoder.down12.down.1.weight")
    merge = state.get("concat23.weight")
    attention = state.get("shallow_feat1.1.CA.conv_du.0.weight")
    if any(t is None or t.dim() != 4 for t in (shallow, down, merge, attention)):
        return {}
    n_feats, n_colors = int(shallow.shape[0]), int(shallow.shape[1])
    widths = (n_feats, int(down.shape[0]) - n_feats, int(merge.shape[0]) - n_feats)
    orb = re.compile(r"^stage3_orsnet\.orb1\.body\.(\d+)\.body\.0\.weight$")
    return {
        "arch": "mprnet",
        "variant": variant_of(*widths),
        "n_colors": n_colors,
        "n_feats": widths[0],
        "scale_unetfeats": widths[1],
        "scale_orsnetfeats": widths[2],
        "num_cab": sum(1 for k in state if orb.match(k)),
        "reduction": n_feats // max(int(attention.shape[0]), 1),
    }


def infer_arch_args(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """Architecture arguments readable from the tensors of a state dict (in our layout or the
    authors'): ``n_colors``, ``n_feats``, ``n_resblocks``, ``positions``, ``reduction``,
    ``scale``, and a guess of ``arch`` (CSNLN: ``n_colors``, ``n_feats``, ``scale``, ``depth``;
    MPRNet: see ``infer_mprnet_args``). Arguments not stored in weights (levels, patch size)
    are not included."""
    if "SEM.multi_source_projection.upsample.0.weight" in state:
        return _infer_csnln(state)
    mprnet = infer_mprnet_args(state)
    if mprnet:
        return mprnet
    found: dict[str, Any] = {}
    head = state.get("head.0.weight")
    if head is not None and head.dim() == 4:
        found["n_feats"], found["n_colors"] = int(head.shape[0]), int(head.shape[1])
    blocks = body_indices(state, "body.0.weight")
    attentions = body_indices(state, "conv_match.0.weight")
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
