"""A signal stops a training run promptly, also in the middle of a slow validation: SLURM
sends SIGTERM about 30 s before it kills a job, so the run must write ``last.ckpt`` of its last
finished training step and exit with status 143 within a few seconds -- not after the image
being restored, the set or the validation. The rerun of the same command then ends exactly
where an uninterrupted run ends."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.run_helpers import REPO_ROOT, TINY_CHECKPOINTED, with_overrides
from tests.test_resume_exact import assert_bit_identical

ENV_ARGS = {"PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
#: 4 steps per epoch, validation at each epoch end; the validation after step 4 is made slow:
#: 8 crops of 64 px in 16 px tiles (25 network calls of DELAY seconds each per crop).
DELAY = 1.0
RUN = [
    *with_overrides(
        TINY_CHECKPOINTED,
        "trainer.max_steps=8",  # ends with the validation after step 8, which writes last.ckpt
        "callbacks.last_checkpoint.every_n_train_steps=1000",  # only the stop writes it
        "data.val_sets=[embedded]",
        "data.embedded_crop=64",
        "trainer.deterministic=true",
    ),
    "inference=tiles",
    "inference.tile=16",
    "inference.overlap=4",
    "inference.batch_size=1",
]
#: A few seconds: what is left of one network call, the checkpoint, the exit.
PROMPT_S = 8.0


def _train(tmp_path: Path, *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "train.py"), f"paths.log_dir={tmp_path}", *RUN, *args],
        cwd=tmp_path,
        env={**os.environ, **ENV_ARGS},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_sigterm_in_a_slow_validation_stops_within_seconds_and_loses_nothing(
    tmp_path: Path,
) -> None:
    import os

    stamp = tmp_path / "sigterm_at"
    killer = [
        "+callbacks.slow._target_=tests.stop_callbacks.SlowValidationThenSigterm",
        f"+callbacks.slow.delay={DELAY}",
        "+callbacks.slow.kill_at=3",
        f"+callbacks.slow.stamp={stamp}",
        "run_name=stopped",
    ]
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "train.py"), f"paths.log_dir={tmp_path}", *RUN, *killer],
        cwd=tmp_path,
        env={**os.environ, **ENV_ARGS},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = process.communicate(timeout=400)
    ended = time.time()
    assert stamp.exists(), err[-3000:]
    took = ended - float(stamp.read_text())
    print(f"SIGTERM to exit: {took:.2f} s")
    assert process.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert took < PROMPT_S, f"the run took {took:.1f} s to stop after SIGTERM"
    assert "stopped by signal SIGTERM at step 4" in err
    runs = tmp_path / "train" / "denoise"
    stopped = torch.load(runs / "stopped" / "checkpoints" / "last.ckpt", weights_only=True)
    assert stopped["global_step"] == 4
    assert not (runs / "stopped" / "metrics.json").exists()

    rerun = _train(tmp_path, "run_name=stopped")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    reference = _train(tmp_path, "run_name=reference")
    assert reference.returncode == 0, reference.stderr[-3000:]
    resumed, straight = (
        torch.load(runs / name / "checkpoints" / "last.ckpt", weights_only=True)
        for name in ("stopped", "reference")
    )
    assert resumed["global_step"] == straight["global_step"] == 8
    for key in ("state_dict", "optimizer_states", "lr_schedulers"):
        assert_bit_identical(resumed[key], straight[key], key)


STEP_RUN = with_overrides(
    TINY_CHECKPOINTED,
    "trainer.max_steps=8",  # ends with a validation, which writes last.ckpt
    "callbacks.last_checkpoint.every_n_train_steps=1000",  # only the stop writes it mid-run
    "data.val_sets=[embedded]",
    "trainer.deterministic=true",
)


@pytest.mark.slow
def test_a_stop_inside_a_training_step_keeps_the_last_finished_step(tmp_path: Path) -> None:
    from tests.run_helpers import compose_config
    from train import train

    killer = ["+callbacks.kill._target_=tests.stop_callbacks.SigtermInsideTrainingStep"]
    cfg = compose_config(
        "train", [*STEP_RUN, *killer, "+callbacks.kill.step=3"], tmp_path, tmp_path / "stopped"
    )
    with pytest.raises(SystemExit) as stopped:
        train(cfg)
    assert stopped.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handlers are restored
    last = torch.load(tmp_path / "stopped" / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 2  # step 3 never finished: its update is not in the file

    train(compose_config("train", STEP_RUN, tmp_path, tmp_path / "stopped"))
    train(compose_config("train", STEP_RUN, tmp_path, tmp_path / "straight"))
    resumed, straight = (
        torch.load(tmp_path / name / "checkpoints" / "last.ckpt", weights_only=True)
        for name in ("stopped", "straight")
    )
    assert resumed["global_step"] == straight["global_step"] == 8
    for key in ("state_dict", "optimizer_states", "lr_schedulers"):
        assert_bit_identical(resumed[key], straight[key], key)
