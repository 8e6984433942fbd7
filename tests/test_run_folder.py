"""Which config changes a run folder accepts on resume (``panet.cli.run_folder``)."""

from __future__ import annotations

from pathlib import Path

import yaml

from panet.cli.run_folder import SAVED_CONFIG, changed_keys, config_change_problem

SAVED = {
    "seed": 1,
    "trainer": {"max_steps": 300, "devices": 1},
    "pyramid": {"levels": 5, "memory_budget_mb": None},
    "data": {"num_workers": 0},
}


def _with(**changes: object) -> dict:
    """A copy of SAVED with dotted keys replaced."""
    config = yaml.safe_load(yaml.safe_dump(SAVED))
    for dotted, value in changes.items():
        node = config
        *parents, leaf = dotted.split("__")
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return config


def test_resources_may_change_on_resume() -> None:
    # the attention's memory budget only changes how the work is cut, like the device count
    new = _with(trainer__max_steps=600, pyramid__memory_budget_mb=64, data__num_workers=4)
    assert changed_keys(SAVED, new) == []


def test_the_model_and_seed_may_not_change(tmp_path: Path) -> None:
    (tmp_path / SAVED_CONFIG).write_text(yaml.safe_dump(SAVED))
    new = _with(pyramid__levels=3, seed=2)
    assert changed_keys(SAVED, new) == [("pyramid.levels", 5, 3), ("seed", 1, 2)]
    problem = config_change_problem(tmp_path, new)
    assert problem is not None
    assert "pyramid.levels: 5 (saved) -> 3 (now)" in problem and "resume=false" in problem
