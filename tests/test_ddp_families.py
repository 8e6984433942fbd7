"""Every model family and ablation trains under trainer=ddp (2 CPU processes, gloo).

DDP with ``find_unused_parameters=false`` fails at the second step when a parameter gets no
gradient (hard attention: the matching convolutions only pick the one-hot best match). So for
every family: the parameters without a gradient must be none, or the composed ``trainer=ddp``
must look for unused parameters. One entry per family/ablation in ``DDP_FAMILIES``: when a
model lands (MPRNet, CSNLN), adding its config name there is one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from panet.cli.trainer_setup import find_unused_for, trainer_arguments
from tests.run_helpers import TINY, TINY_MODEL, TINY_MPRNET, compose_config, run_script

#: CSNLN made tiny (8 features, the SEM cell applied twice).
TINY_CSNLN = ("model.n_feats=8", "model.depth=2")

#: (id, overrides) of the graphs DDP must train.
DDP_FAMILIES: list[tuple[str, tuple[str, ...]]] = [
    ("panet", ("model=panet", "pyramid.levels=2")),
    ("panet-hard-fast", ("model=panet", "pyramid.hard=true", "pyramid.impl=fast")),
    ("panet-hard-faithful", ("model=panet", "pyramid.hard=true", "pyramid.impl=faithful")),
    ("panet-pre-mid-post", ("model=panet", "pyramid.positions=[pre,mid,post]")),
    ("pa_edsr-sr", ("model=pa_edsr", "task=sr", "degradation.scale=2")),
    ("nonlocal", ("model=nonlocal",)),
    ("resnet", ("model=resnet",)),
    ("mprnet", ("model=mprnet_s", *TINY_MPRNET)),
    ("csnln", ("model=csnln", "task=sr", "degradation.scale=2", *TINY_CSNLN)),
    # depth 1: the SEM cell's last projection gets no gradient (as in the authors' code); the
    # network says so (trains_every_parameter) and build_trainer makes DDP search
    ("csnln_s-depth1", ("model=csnln_s", "task=sr", "degradation.scale=2", "model.n_feats=8")),
]
_IDS = [name for name, _ in DDP_FAMILIES]


def parameters_without_gradient(net: torch.nn.Module, channels: int, scale: int) -> list[str]:
    """Names of the parameters one training step leaves without a gradient (single process)."""
    torch.manual_seed(0)
    lq = torch.rand(2, channels, 16, 16)
    net.train()
    out = net(lq)
    outputs = out if isinstance(out, list | tuple) else [out]
    sum(o.float().mean() for o in outputs).backward()
    assert outputs[0].shape[-1] == 16 * scale
    return [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]


@pytest.mark.parametrize(("name", "overrides"), DDP_FAMILIES, ids=_IDS)
def test_ddp_preset_finds_unused_parameters_where_a_graph_has_them(
    name: str, overrides: tuple[str, ...], tmp_path: Path
) -> None:
    tiny = () if name.startswith(("mprnet", "csnln")) else TINY_MODEL  # they bring their own
    cfg = compose_config("train", ["trainer=ddp", *tiny, *overrides], tmp_path)
    net = instantiate(cfg.model)
    unused = parameters_without_gradient(net, int(cfg.task.n_colors), int(net.scale))
    arguments, _ = trainer_arguments(cfg.trainer)
    find_unused_for(arguments, net)  # what build_trainer gives the Trainer for this network
    searches = bool(arguments.strategy.find_unused_parameters)
    if name.startswith("panet-hard"):
        assert unused, "hard attention should leave the matching convolutions without gradient"
    assert searches == bool(unused), (name, unused)


@pytest.mark.slow
def test_hard_attention_trains_under_two_process_ddp(tmp_path: Path) -> None:
    # The faithful implementation is the one whose unused parameters DDP would trip on.
    result = run_script(
        "train.py",
        [
            "run_name=hard",
            "trainer=ddp",
            "trainer.accelerator=cpu",
            "trainer.devices=2",
            "trainer.precision=32-true",
            "trainer.max_steps=3",
            "logger=none",
            "callbacks=none",
            "test=false",
            *TINY,
            "model=panet",
            "pyramid.hard=true",
            "pyramid.impl=faithful",
            "pyramid.levels=2",
        ],
        tmp_path,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(
        (tmp_path / "logs" / "train" / "denoise" / "hard" / "metrics.json").read_text()
    )
    assert metrics["step"] == 3
    assert metrics["meta"]["devices"] == 2
