"""The Optuna search is the optional extra `search`: without it, `hparams_search=` stops
train.py with one line naming the extra (simulated here by making the sweeper unimportable)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from panet.cli.extras import (
    SEARCH_HINT,
    SEARCH_MODULES,
    require_search_extra,
    search_installed,
    search_requested,
)
from tests.run_helpers import REPO_ROOT

#: Runs train.py with the search extra's modules made unimportable (as if not installed).
_WITHOUT_SEARCH = """
import runpy, sys

blocked = set(sys.argv[1].split(","))

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in blocked):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
sys.argv = [sys.argv[2], *sys.argv[3:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_which_commands_ask_for_a_search() -> None:
    assert search_requested(["hparams_search=quickstart_optuna"])
    assert search_requested(["-m", "+hparams_search=ablation_optuna", "trainer.max_steps=2"])
    assert not search_requested(["hparams_search=null", "pyramid.levels=1,2", "-m"])
    assert not search_requested(["experiment=ablation_cpu_attention"])


def test_the_message_names_the_extra(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        require_search_extra(["hparams_search=quickstart_optuna"], available=lambda: False)
    assert stop.value.code == 2
    assert capsys.readouterr().err == SEARCH_HINT + "\n"
    assert '".[search]"' in SEARCH_HINT
    require_search_extra(["hparams_search=quickstart_optuna"], available=lambda: True)
    require_search_extra(["pyramid.levels=1"], available=lambda: False)  # no search: no check
    assert search_installed()  # this install has the extra (the test extra includes it)


@pytest.mark.slow
def test_train_py_without_the_extra(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-c",
        _WITHOUT_SEARCH,
        ",".join(SEARCH_MODULES),
        str(REPO_ROOT / "train.py"),
        f"paths.log_dir={tmp_path / 'logs'}",
        "hparams_search=quickstart_optuna",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [SEARCH_HINT]
    assert not (tmp_path / "logs").exists()
