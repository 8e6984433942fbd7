"""The options that say which network a command runs and where, shared by the commands that
load a checkpoint (``panet.cli.restore``, ``panet.cli.attention_map``): ``--ckpt``, ``--arch``
(alias ``--official-arch``) with ``--arch-arg KEY=VALUE`` for the authors' weights,
``--device``, and how its attention runs: ``--impl`` (default ``auto``: bounded memory on every
device, whatever the checkpoint was trained with) and ``--memory-budget-mb``."""

from __future__ import annotations

import argparse
import ast
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from panet.attention import use_attention_implementation
from panet.attention.budget import set_memory_budget_mb
from panet.attention.pyramid import IMPLEMENTATIONS
from panet.checkpoints.for_evaluation import load_for_evaluation
from panet.inference.devices import DEVICE_CHOICES, resolve_device


def parse_arch_args(items: Sequence[str]) -> dict[str, Any]:
    """``["n_resblocks=80", "positions=('mid',)"]`` -> ``{"n_resblocks": 80, ...}``.

    Values are Python literals (numbers, booleans, tuples, None); anything else stays a string.
    """
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--arch-arg expects KEY=VALUE, got {item!r}")
        try:
            value: Any = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        parsed[key.strip()] = value
    return parsed


def add_network_options(parser: argparse.ArgumentParser, architectures: Sequence[str]) -> None:
    """``--ckpt``, ``--arch``/``--official-arch`` (one of ``architectures``), ``--arch-arg``
    and ``--device``."""
    parser.add_argument("--ckpt", required=True, help="checkpoint file (ours or the authors')")
    parser.add_argument(
        "--arch",
        "--official-arch",
        dest="official_arch",
        choices=architectures,
        help="architecture of the authors' weights; omit for our own checkpoints",
    )
    parser.add_argument(
        "--arch-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="constructor argument for the authors' weights, e.g. n_resblocks=80 (repeatable)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help=f"{DEVICE_CHOICES} (auto: the first GPU when CUDA is available, else the CPU)",
    )
    parser.add_argument(
        "--impl",
        default="auto",
        choices=IMPLEMENTATIONS,
        help="attention implementation (all exact; auto: by device, in bounded memory)",
    )
    parser.add_argument(
        "--memory-budget-mb",
        type=float,
        default=None,
        help="attention working memory in MiB (default: 512 on a CPU, 1/4 of a GPU's free)",
    )


def load_network(args: argparse.Namespace) -> tuple[nn.Module, torch.device]:
    """The network the options name, in eval mode on its device (``ValueError``/``OSError``
    for bad options or files)."""
    arch_args = parse_arch_args(args.arch_arg)
    device = resolve_device(args.device)
    set_memory_budget_mb(args.memory_budget_mb)
    net = load_for_evaluation(args.ckpt, args.official_arch, arch_args or None)
    net = use_attention_implementation(net, args.impl)
    return net.to(device).eval(), device
