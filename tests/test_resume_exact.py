"""Bit-exact resume: a run stopped at an arbitrary step and resumed ends with the same weights,
optimizer and scheduler state as an uninterrupted run, bit for bit (CPU, deterministic), with 0
and 2 DataLoader workers, and after a real SIGTERM (which also makes train.py exit 128 + 15)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.run_helpers import TINY_CHECKPOINTED, compose_config, run_script, with_overrides
from train import train

#: 4 steps per epoch (8 samples, batch 2); 10 steps cross two epoch ends and validations.
TOTAL_STEPS = 10
SHORT = with_overrides(TINY_CHECKPOINTED, "data.val_sets=[embedded]", "trainer.deterministic=true")


def last_checkpoint(run_dir: Path) -> dict[str, Any]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


def train_to(run_dir: Path, tmp_path: Path, steps: int, *extra: str) -> dict[str, Any]:
    cfg = compose_config(
        "train", with_overrides(SHORT, f"trainer.max_steps={steps}", *extra), tmp_path, run_dir
    )
    train(cfg)
    return last_checkpoint(run_dir)


def assert_bit_identical(a: Any, b: Any, where: str = "checkpoint") -> None:
    """Tensors equal bit for bit (and dtype), containers recursively, other values by ==."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype, where
        assert torch.equal(a, b), f"{where}: max |diff| {(a.double() - b.double()).abs().max()}"
    elif isinstance(a, dict):
        assert set(a) == set(b), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            assert_bit_identical(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_bit_identical(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_same_training_state(resumed: dict[str, Any], straight: dict[str, Any]) -> None:
    assert resumed["global_step"] == straight["global_step"] == TOTAL_STEPS
    assert_bit_identical(resumed["state_dict"], straight["state_dict"], "weights")
    assert_bit_identical(resumed["optimizer_states"], straight["optimizer_states"], "optimizer")
    assert_bit_identical(resumed["lr_schedulers"], straight["lr_schedulers"], "scheduler")


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("stop_at", [6])  # mid-epoch 2, after one validation
def test_resumed_run_equals_uninterrupted_run_bit_for_bit(
    tmp_path: Path, workers: int, stop_at: int
) -> None:
    straight = train_to(tmp_path / "straight", tmp_path, TOTAL_STEPS, f"data.num_workers={workers}")

    stopped = train_to(tmp_path / "resumed", tmp_path, stop_at, f"data.num_workers={workers}")
    assert stopped["global_step"] == stop_at
    position = stopped["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    assert position == [{"epoch": 1, "batches": 2}]  # step 6 = epoch 1 (0-based), batch 2 done
    resumed = train_to(tmp_path / "resumed", tmp_path, TOTAL_STEPS, f"data.num_workers={workers}")
    assert_same_training_state(resumed, straight)


@pytest.mark.slow
def test_a_run_ending_between_saves_leaves_its_final_state(tmp_path: Path) -> None:
    """max_steps=6 ends mid-epoch, between periodic saves (every 100 steps) and validations
    (every epoch): last.ckpt is still step 6, and more steps from it equal a straight run."""
    sparse = "callbacks.last_checkpoint.every_n_train_steps=100"
    straight = train_to(tmp_path / "straight", tmp_path, TOTAL_STEPS, sparse)
    stopped = train_to(tmp_path / "resumed", tmp_path, 6, sparse)
    assert stopped["global_step"] == 6
    assert stopped["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [
        {"epoch": 1, "batches": 2}
    ]
    resumed = train_to(tmp_path / "resumed", tmp_path, TOTAL_STEPS, sparse)
    assert_same_training_state(resumed, straight)


SIGTERM_AT = 7
SCRIPT_ARGS = [
    *with_overrides(SHORT, f"trainer.max_steps={TOTAL_STEPS}", "data.num_workers=2"),
    "run_name=killed",
]


@pytest.mark.slow
def test_sigterm_exits_143_then_rerun_ends_bit_identical(tmp_path: Path) -> None:
    reference = run_script("train.py", [*SCRIPT_ARGS, "run_name=reference"], tmp_path)
    assert reference.returncode == 0, reference.stderr[-3000:]
    # A real SIGTERM, sent by the process to itself at the end of step SIGTERM_AT.
    killer = [
        "+callbacks.sigterm._target_=tests.signal_callback.SigtermAtStep",
        f"+callbacks.sigterm.step={SIGTERM_AT}",
    ]
    killed = run_script("train.py", [*SCRIPT_ARGS, *killer], tmp_path)
    assert killed.returncode == 128 + signal.SIGTERM, killed.stderr[-3000:]
    assert "stopped by signal SIGTERM" in killed.stderr
    runs = tmp_path / "logs" / "train" / "denoise"
    assert last_checkpoint(runs / "killed")["global_step"] == SIGTERM_AT
    assert not (runs / "killed" / "metrics.json").exists()

    rerun = run_script("train.py", SCRIPT_ARGS, tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "Resuming from" in rerun.stdout
    reference_state = last_checkpoint(runs / "reference")
    assert_same_training_state(last_checkpoint(runs / "killed"), reference_state)


@pytest.mark.slow
def test_ddp_run_resumed_mid_epoch_equals_uninterrupted_run(tmp_path: Path) -> None:
    # 2 gloo CPU processes: 4 samples per rank and epoch = 2 steps; step 3 is mid-epoch 1.
    ddp = [
        *with_overrides(SHORT, "data.num_workers=0"),
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
    ]
    runs = tmp_path / "logs" / "train" / "denoise"
    for name, steps in (("straight", 6), ("resumed", 3), ("resumed", 6)):
        result = run_script(
            "train.py", [*ddp, f"run_name={name}", f"trainer.max_steps={steps}"], tmp_path
        )
        assert result.returncode == 0, result.stderr[-3000:]
    straight, resumed = (last_checkpoint(runs / n) for n in ("straight", "resumed"))
    assert resumed["global_step"] == straight["global_step"] == 6
    for key in ("state_dict", "optimizer_states", "lr_schedulers"):
        assert_bit_identical(resumed[key], straight[key], key)
