"""A training multirun checks every job's config before the first job starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.run_helpers import TINY, run_script


@pytest.mark.slow
def test_an_invalid_job_stops_the_multirun_before_any_job_runs(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_script(
        "train.py",
        [*TINY, "pyramid.levels=5,11", "trainer.max_steps=2", f"hydra.sweep.dir={sweep}", "-m"],
        tmp_path,
    )
    assert result.returncode == 1
    assert "1 job(s) of this multirun have invalid configs; no job was started" in result.stderr
    assert (
        "job 1 (pyramid.levels=11): pyramid.levels must be an integer in 1..10; got 11"
        in result.stderr
    )
    assert not sweep.exists()  # job 0 never started
