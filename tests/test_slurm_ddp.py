"""A two-node DDP job as SLURM starts it: two train.py processes on this machine, each with the
SLURM variables srun gives one task (1 task per "node", gloo on CPUs), so that Lightning's
SLURMEnvironment takes the ranks from the job. It trains, checkpoints once, scores every
validation image once; a SIGTERM to both tasks (what SLURM sends before a requeue) leaves one
last.ckpt, from which the same command resumes."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.run_helpers import REPO_ROOT, TINY, with_overrides
from tests.test_ddp import ODD_SET_SIZE, write_odd_benchmark_set

NODES = 2
#: 8 samples per epoch (TINY), 2 per rank and step: an epoch and a validation every 2 steps.
STEPS_PER_EPOCH = 2
JOB = (
    *with_overrides(TINY, "data.num_workers=auto"),
    "trainer=ddp",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    f"trainer.num_nodes={NODES}",
    "logger=csv",
    "data.val_sets=[Odd3]",
    "data.test_sets=[Odd3]",
    "callbacks.image_panels.num_images=0",
    "~callbacks.attention_maps",
    "~callbacks.progress_bar",
    "trainer.enable_model_summary=false",
)
LIMIT_S = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def task_environment(rank: int, port: int, job_id: str) -> dict[str, str]:
    """What srun sets for task ``rank`` of a job of NODES nodes x 1 task (plus the rendezvous
    address, which Lightning would otherwise derive from the node list)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM")}
    env |= {
        "SLURM_JOB_ID": job_id,
        "SLURM_JOB_NAME": "train",
        "SLURM_JOB_NODELIST": f"node[0-{NODES - 1}]",
        "SLURM_NODELIST": f"node[0-{NODES - 1}]",
        "SLURM_JOB_NUM_NODES": str(NODES),
        "SLURM_NNODES": str(NODES),
        "SLURM_NTASKS": str(NODES),
        "SLURM_NTASKS_PER_NODE": "1",
        "SLURM_CPUS_PER_TASK": "1",
        "SLURM_STEP_ID": "0",
        "SLURM_PROCID": str(rank),
        "SLURM_LOCALID": "0",
        "SLURM_NODEID": str(rank),
        "SLURMD_NODENAME": f"node{rank}",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "OMP_NUM_THREADS": "1",
        "PYTHONWARNINGS": "ignore",
    }
    return env


class Job:
    """The NODES tasks of one job, each a ``python train.py`` with its SLURM environment."""

    def __init__(self, tmp_path: Path, name: str, *overrides: str) -> None:
        port, job_id = free_port(), str(4000 + len(list(tmp_path.glob("task*.out"))))
        bench = tmp_path / "bench"
        arguments = [
            f"paths.log_dir={tmp_path / 'logs'}",
            f"paths.benchmark_root={bench}",
            f"run_name={name}",
            *JOB,
            *overrides,
        ]
        self.logs = []
        self.tasks = []
        for rank in range(NODES):
            log = tmp_path / f"task{job_id}-{rank}.out"
            self.logs.append(log)
            self.tasks.append(
                subprocess.Popen(
                    [sys.executable, str(REPO_ROOT / "train.py"), *arguments],
                    cwd=tmp_path,
                    env=task_environment(rank, port, job_id),
                    stdout=log.open("w"),
                    stderr=subprocess.STDOUT,
                )
            )

    def wait(self) -> list[int]:
        deadline = time.monotonic() + LIMIT_S
        try:
            return [task.wait(timeout=max(1, deadline - time.monotonic())) for task in self.tasks]
        finally:
            for task in self.tasks:
                if task.poll() is None:
                    task.kill()

    def output(self, rank: int = 0) -> str:
        return self.logs[rank].read_text(errors="replace")

    def terminate(self) -> None:
        """SIGTERM to every task at once (as SLURM does when a job is requeued)."""
        for task in self.tasks:
            task.send_signal(signal.SIGTERM)


def checkpoint_step(path: Path) -> int:
    return int(torch.load(path, weights_only=True, map_location="cpu")["global_step"])


def wait_for(path: Path, job: Job) -> None:
    deadline = time.monotonic() + LIMIT_S
    while not path.is_file():
        if any(task.poll() is not None for task in job.tasks) or time.monotonic() > deadline:
            job.terminate()
            job.wait()
            pytest.fail(f"{path} never appeared:\n{job.output()[-3000:]}")
        time.sleep(0.2)


@pytest.mark.slow
def test_two_node_slurm_job_trains_checkpoints_once_and_scores_each_image_once(
    tmp_path: Path,
) -> None:
    write_odd_benchmark_set(tmp_path / "bench")
    job = Job(tmp_path, "two_nodes", "trainer.max_steps=4")
    assert job.wait() == [0] * NODES, job.output()[-3000:] + job.output(1)[-3000:]

    run = tmp_path / "logs" / "train" / "denoise" / "two_nodes"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["meta"]["devices"] == NODES  # one process group of both nodes' tasks
    assert metrics["step"] == 4
    # 3 images over 2 ranks (2 + 1): each scored once, none repeated by a padded sampler.
    assert metrics["val/Odd3/n_images"] == ODD_SET_SIZE
    assert metrics["test/Odd3/n_images"] == ODD_SET_SIZE
    # One writer: one last.ckpt at the final step and one best.ckpt, no per-rank copies.
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert checkpoint_step(run / "checkpoints" / "last.ckpt") == 4
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in job.output() + job.output(1)


@pytest.mark.slow
def test_sigterm_to_both_tasks_leaves_one_last_checkpoint_and_the_rerun_resumes(
    tmp_path: Path,
) -> None:
    write_odd_benchmark_set(tmp_path / "bench")
    run = tmp_path / "logs" / "train" / "denoise" / "requeued"
    last = run / "checkpoints" / "last.ckpt"
    job = Job(tmp_path, "requeued", "trainer.max_steps=100000")
    wait_for(last, job)  # written after the first validation: training is under way
    job.terminate()
    codes = job.wait()
    assert codes == [128 + signal.SIGTERM] * NODES, (
        codes,
        job.output()[-3000:],
        job.output(1)[-3000:],
    )
    stopped = re.search(r"training stopped by signal SIGTERM at step (\d+)", job.output())
    assert stopped, job.output()[-3000:]
    step = int(stopped.group(1))
    assert f"at step {step};" in job.output(1)  # both tasks stopped at the same step
    assert sorted(p.name for p in last.parent.iterdir()) == ["best.ckpt", "last.ckpt"]
    assert checkpoint_step(last) == step

    # Two more epochs' worth, ending at an epoch end: the final validation writes last.ckpt
    # (a run ending mid-epoch keeps the last validation's, see callbacks/last_checkpoint.py).
    final = (step // STEPS_PER_EPOCH + 2) * STEPS_PER_EPOCH
    rerun = Job(tmp_path, "requeued", f"trainer.max_steps={final}")
    assert rerun.wait() == [0] * NODES, rerun.output()[-3000:] + rerun.output(1)[-3000:]
    assert f"Resuming from {last}" in rerun.output()
    assert json.loads((run / "metrics.json").read_text())["step"] == final
    assert checkpoint_step(last) == final
