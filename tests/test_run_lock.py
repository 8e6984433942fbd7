"""One run folder, one process: the same command started twice is refused while the first runs
(naming it), a lock left by a killed process is taken over (saying so), evaluate.py's folders
are locked the same way, and a run that fails lets go of its folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.run_helpers import REPO_ROOT, TINY, TINY_CHECKPOINTED, compose_config, with_overrides

ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
#: A run long enough to be caught in the middle (it is stopped by the test).
LONG = [
    *with_overrides(TINY, "trainer.max_steps=100000", "data.samples_per_epoch=100000"),
    "logger=none",
    "callbacks.image_panels.num_images=0",
    "~callbacks.attention_maps",
    "~callbacks.progress_bar",
    "run_name=twice",
]


def _start_training(tmp_path: Path) -> subprocess.Popen:
    command = [sys.executable, str(REPO_ROOT / "train.py"), f"paths.log_dir={tmp_path}", *LONG]
    return subprocess.Popen(
        command, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _wait_for(path: Path, process: subprocess.Popen, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.stdout.read()[-3000:]
        assert time.monotonic() < deadline, f"{path} did not appear within {seconds} s"
        time.sleep(0.2)


@pytest.mark.slow
def test_the_same_command_twice_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    folder = tmp_path / "train" / "denoise" / "twice"
    first = _start_training(tmp_path)
    try:
        _wait_for(folder / "config_resolved.yaml", first)
        second = subprocess.run(
            [sys.executable, str(REPO_ROOT / "train.py"), f"paths.log_dir={tmp_path}", *LONG],
            cwd=tmp_path,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode != 0
        output = second.stdout + second.stderr
        assert f"run folder {folder} is in use by process {first.pid}" in output, output[-3000:]
        assert "run_name=" in output
        assert first.poll() is None  # the first run goes on
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=120)
    assert first.returncode == 128 + signal.SIGTERM


@pytest.mark.slow
def test_a_lock_left_by_a_killed_run_is_taken_over_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from train import train

    folder = tmp_path / "train" / "denoise" / "twice"
    killed = _start_training(tmp_path)
    try:
        _wait_for(folder / "config_resolved.yaml", killed)
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=60)
    overrides = with_overrides(TINY_CHECKPOINTED, "trainer.max_steps=1", "resume=false")
    train(compose_config("train", overrides, tmp_path, run_dir=folder))
    err = capsys.readouterr().err
    assert f"took over run folder {folder} from process {killed.pid}" in err, err[-2000:]
    assert "no longer running" in err


HOLDER = textwrap.dedent(
    """
    import sys, time
    from panet.cli.run_lock import hold_run_folder
    with hold_run_folder(sys.argv[1]):
        print("held", flush=True)
        time.sleep(120)
    """
)


def _hold(folder: Path) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)],
        env={**ENV, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = holder.stdout.readline().strip()
    assert line == "held", holder.stderr.read()[-2000:]
    return holder


def test_evaluate_refuses_a_folder_in_use(tmp_path: Path) -> None:
    from evaluate import evaluate

    holder = _hold(tmp_path / "run")
    try:
        overrides = ["model=identity", "data.test_sets=[embedded]", "data.num_workers=0"]
        with pytest.raises(RuntimeError) as refused:
            evaluate(compose_config("evaluate", overrides, tmp_path))
        message = str(refused.value)
        assert f"run folder {tmp_path / 'run'} is in use by process {holder.pid}" in message
        assert "\n" not in message
        assert not (tmp_path / "run" / "metrics.json").exists()
    finally:
        holder.kill()
        holder.wait()


def test_training_refuses_a_folder_in_use_before_touching_it(tmp_path: Path) -> None:
    from train import train

    holder = _hold(tmp_path / "run")
    try:
        with pytest.raises(RuntimeError, match=rf"in use by process {holder.pid} "):
            train(compose_config("train", TINY_CHECKPOINTED, tmp_path))
        assert not (tmp_path / "run").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_failed_run_lets_go_of_its_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from panet.cli.run_lock import hold_run_folder
    from train import train

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"not an image")
    overrides = with_overrides(TINY_CHECKPOINTED, "data=folder", f"data.train_source={bad}")
    with pytest.raises(ValueError, match="problem"):
        train(compose_config("train", overrides, tmp_path))
    with hold_run_folder(tmp_path / "run"):
        pass
    assert "took over" not in capsys.readouterr().err
