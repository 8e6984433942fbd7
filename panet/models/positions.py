"""Where pyramid attention sits in a residual body (the paper's Table 9 ablation).

The one list of attention positions: the networks place their attention blocks with
``insert_attention``, the official-checkpoint reader infers positions from a file's layout with
it, and the config checks validate ``pyramid.positions`` against ``POSITIONS``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

#: Where attention may sit in a residual body: after block 1, after block R/2, after block R.
POSITIONS: tuple[str, ...] = ("pre", "mid", "post")


def validate_positions(positions: str | Sequence[str]) -> tuple[str, ...]:
    """``positions`` as a duplicate-free tuple in canonical order (pre, mid, post).

    A single string is read as one position.
    """
    if isinstance(positions, str):
        positions = (positions,)
    positions = tuple(positions)
    problem = positions_problem(positions)
    if problem:
        raise ValueError(f"attention positions {problem}")
    return tuple(p for p in POSITIONS if p in positions)


def positions_problem(positions: Sequence[object]) -> str | None:
    """What is wrong with a sequence of positions (unknown or repeated values), or None."""
    unknown = [p for p in positions if p not in POSITIONS]
    if unknown or len(set(positions)) != len(positions):
        return f"must be distinct values from {list(POSITIONS)}, got {list(positions)}"
    return None


def insert_attention(
    blocks: Sequence[nn.Module],
    positions: Sequence[str],
    make_attention: Callable[[], nn.Module],
) -> list[nn.Module]:
    """``blocks`` with a fresh ``make_attention()`` after block 1 (``pre``), after block
    ``len(blocks) // 2`` (``mid``, the authors' layout ``body.{R/2}``) and after the last block
    (``post``), for each requested position (validated, canonical order)."""
    n_blocks = len(blocks)
    after = {"pre": min(1, n_blocks), "mid": n_blocks // 2, "post": n_blocks}
    wanted = validate_positions(positions)
    layers: list[nn.Module] = []
    for done in range(n_blocks + 1):
        if done > 0:
            layers.append(blocks[done - 1])
        layers += [make_attention() for p in wanted if after[p] == done]
    return layers
