"""The Triton kernels compute the faithful function (outputs and every input gradient), run on
the CPU in Triton's interpreter (``TRITON_INTERPRET=1``) on small shapes; and the tap
bookkeeping around them (neighbour tables, folds) matches ``unfold``/``fold``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from panet.attention.triton_attention import (
    TapGroups,
    _fold_rows,
    _unfold_rows,
    neighbour_table,
    plan_chunks,
)

triton = pytest.importorskip("triton", reason="Triton is not installed (pip install triton)")
REPO_ROOT = Path(__file__).resolve().parents[3]


#: Runs the cases in a fresh interpreter with ``TRITON_INTERPRET=1`` set before Triton is
#: imported (Triton reads it once, at import; another test may have imported it already), and
#: prints the relative errors against faithful as JSON.
_INTERPRETED = """
import json, os, sys
os.environ["TRITON_INTERPRET"] = "1"
import torch
from panet.attention.faithful import faithful_attention
from panet.attention.triton_attention import triton_attention
from tests.panet.attention.test_fast import random_inputs, rel, run

results = []
for case in json.loads(sys.argv[1]):
    *shape, k, budget = case
    query, keys, values = random_inputs(*shape)
    options = dict(patch_size=k, softmax_scale=10.0, hard=False)
    ref_out, ref_grads = run(faithful_attention, query, keys, values, **options)
    out, grads = run(triton_attention, query, keys, values, memory_budget_mb=budget, **options)
    results.append([rel(out, ref_out), *(rel(g, r) for g, r in zip(grads, ref_grads))])
print(json.dumps(results))
"""

CASES = [
    # batch, C, c, H, W, levels, k, budget (MiB)
    (2, 8, 4, 6, 5, 3, 3, None),  # k = 3: taps in groups of 8 and 1
    (1, 8, 6, 6, 5, 2, 1, None),  # pixel-wise: one tap
    (1, 80, 4, 5, 6, 2, 3, 0.01),  # two value-channel chunks; rows chunked by the budget
]


@pytest.mark.slow
def test_triton_matches_faithful():
    """Outputs and the gradients of the query, every key and every value level, in Triton's
    interpreter, against faithful."""
    result = subprocess.run(
        [sys.executable, "-c", _INTERPRETED, json.dumps(CASES)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=900,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    for case, (out, *grads) in zip(CASES, json.loads(result.stdout.splitlines()[-1]), strict=True):
        assert out <= 1e-5, case
        assert max(grads) <= 1e-4, case


def test_tap_groups_pad_nothing_for_3x3():
    assert TapGroups.of(3) == TapGroups(9, 8, 1, True)
    assert TapGroups.of(1) == TapGroups(1, 1, 1, False)
    assert TapGroups.of(5).first + TapGroups.of(5).second >= 25


def test_neighbour_gather_and_fold_are_unfold_and_fold():
    """Gathering through the table is ``unfold`` (zero padding); the row fold is its adjoint
    ``fold``, chunk by chunk."""
    torch.manual_seed(0)
    grid = torch.randn(2, 3, 7, 5)
    groups = TapGroups.of(3)
    table = neighbour_table([(7, 5)], 3, groups, "cpu")[:, :9]
    flat = grid.flatten(2)
    gathered = torch.where(table >= 0, flat[:, :, table.clamp_min(0)], 0.0)  # [B, C, N, 9]
    expected = F.unfold(grid, 3, padding=1).view(2, 3, 9, 35).transpose(2, 3)
    torch.testing.assert_close(gathered, expected)
    assert torch.equal(_unfold_rows(grid, 2, 5, 3), F.unfold(grid, 3, padding=1)[:, :, 10:25])
    taps = torch.randn(2, 35, 9, 3)
    whole = F.fold(taps.permute(0, 3, 2, 1).reshape(2, 27, 35), (7, 5), 3, padding=1)
    folded = torch.zeros(2, 3, 7, 5)
    for row0, row1 in ((0, 3), (3, 4), (4, 7)):
        _fold_rows(taps[:, row0 * 5 : row1 * 5], folded, row0, row1, 3)
    torch.testing.assert_close(folded, whole)


def test_chunks_follow_the_budget():
    rows, key_rows, planned = plan_chunks(1, 32, 64, 512, 768, [(512, 768), (460, 691)], 3,
                                          64 << 20)  # fmt: skip
    assert rows < 512 and key_rows < 512 and planned <= 64 << 20
    assert plan_chunks(1, 4, 8, 8, 8, [(8, 8)], 3, 1 << 30)[:2] == (8, 8)
