"""hydra/launcher=slurm asks SLURM for the job its DDP run needs (trainer.num_nodes nodes,
trainer.devices tasks and GPUs per node), and a multirun whose job would not fit is refused
before anything is submitted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict, read_write

from panet.cli.cluster import launcher_problems
from panet.cli.multirun_checks import job_overrides
from tests.run_helpers import CONFIG_DIR, REPO_ROOT, TINY, compose_config

SLURM = ("hydra/launcher=slurm", "trainer=ddp")


class SubmissionStoppedError(Exception):
    """Raised instead of calling sbatch; carries the batch script submitit wrote."""


def sbatch_script(cfg: DictConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The batch script hydra-submitit-launcher would hand to sbatch for ``cfg`` (the real
    launcher and submitit, stopped just before the submission)."""
    import submitit.slurm.slurm as submitit_slurm

    def capture(executor, command: str) -> None:
        raise SubmissionStoppedError(executor._make_submission_file_text(command, "uid"))

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 1\n")  # submitit looks for srun first
    (fake_bin / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}:{Path('/usr/bin')}:{Path('/bin')}")
    monkeypatch.setattr(submitit_slurm.SlurmExecutor, "_submit_command", capture)
    with read_write(cfg.hydra), open_dict(cfg):
        cfg.hydra.sweep.dir = str(tmp_path / "sweep")
        cfg.hydra.job.name = "train"
    launcher = instantiate(cfg.hydra.launcher)
    launcher.config = cfg
    with pytest.raises(SubmissionStoppedError) as submitted:
        launcher.launch([["seed=1"]], initial_job_idx=0)
    return str(submitted.value)


def sbatch_lines(script: str) -> set[str]:
    return {line for line in script.splitlines() if line.startswith("#SBATCH")}


def test_the_sbatch_request_follows_num_nodes_and_devices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = compose_config("train", [*SLURM, "trainer.num_nodes=2", "trainer.devices=4"], tmp_path)
    assert (cfg.hydra.launcher.nodes, cfg.hydra.launcher.tasks_per_node) == (2, 4)
    assert cfg.hydra.launcher.gpus_per_node == 4
    lines = sbatch_lines(sbatch_script(cfg, tmp_path, monkeypatch))
    assert {"#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=4", "#SBATCH --gpus-per-node=4"} <= (
        lines
    )
    assert "#SBATCH --signal=USR2@120" in lines  # submitit's requeue before the time limit


def test_a_cpu_job_asks_for_no_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = compose_config(
        "train", [*SLURM, "trainer.accelerator=cpu", "trainer.devices=2"], tmp_path
    )
    assert cfg.hydra.launcher.gpus_per_node is None
    lines = sbatch_lines(sbatch_script(cfg, tmp_path, monkeypatch))
    assert "#SBATCH --ntasks-per-node=2" in lines and "#SBATCH --nodes=1" in lines
    assert not any("gpus" in line or "gres" in line for line in lines)


def problems_of(overrides: list[str], tmp_path: Path) -> list[str]:
    """``launcher_problems`` of the config a ``train.py -m`` multirun starts from (swept values
    left out of it, as Hydra's multirun does) and of its jobs."""
    import train  # noqa: F401  (registers the resolvers)

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        config = loader.load_configuration(
            "train", [f"paths.log_dir={tmp_path}", *overrides], run_mode=RunMode.MULTIRUN
        )
        return launcher_problems(config, job_overrides(config))


def test_matching_jobs_have_no_problem(tmp_path: Path) -> None:
    assert problems_of([*SLURM, "trainer.num_nodes=2", "trainer.devices=4"], tmp_path) == []
    assert problems_of([*SLURM, "pyramid.levels=1,2"], tmp_path) == []
    assert problems_of(["trainer=ddp", "trainer.devices=auto"], tmp_path) == []  # not SLURM


def test_a_launcher_set_by_hand_against_the_trainer_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    problems = problems_of([*SLURM, "trainer.num_nodes=2", "hydra.launcher.nodes=1"], tmp_path)
    assert len(problems) == 1 and "\n" not in problems[0]
    assert "needs 2 node(s) x 2 task(s) with 2 GPU(s) per node" in problems[0]
    assert "asks SLURM for 1 node(s) x 2 task(s) with 2 GPU(s) per node" in problems[0]
    assert "DDP would wait for ranks that never start" in problems[0]
    gpus = problems_of([*SLURM, "hydra.launcher.gpus_per_node=1"], tmp_path)
    assert len(gpus) == 1 and "1 GPU(s) per node" in gpus[0]


def test_a_swept_device_count_is_refused_for_the_jobs_it_does_not_fit(tmp_path: Path) -> None:
    problems = problems_of([*SLURM, "trainer.devices=2,4"], tmp_path)
    assert len(problems) == 1  # job 0 (2 devices) fits the one request; job 1 does not
    assert problems[0].startswith("job 1 (trainer.devices=4)")
    assert "separate commands" in problems[0]


def test_devices_auto_is_refused_with_the_fix(tmp_path: Path) -> None:
    problems = problems_of([*SLURM, "trainer.devices=auto"], tmp_path)
    assert problems == [
        "hydra/launcher=slurm needs trainer.devices as the number of "
        "devices per node (one SLURM task each), got 'auto': set e.g. trainer.devices=4"
    ]


@pytest.mark.slow
def test_train_py_refuses_the_mismatch_before_submitting(tmp_path: Path) -> None:
    command = [sys.executable, str(REPO_ROOT / "train.py"), "-m", f"paths.log_dir={tmp_path}"]
    command += [*SLURM, "trainer.num_nodes=2", "hydra.launcher.nodes=1", *TINY]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "no job was started" in result.stderr
    assert "job 0 (the command line): its DDP run needs 2 node(s)" in result.stderr
    assert "DDP would wait for ranks that never start" in result.stderr
    assert not list(tmp_path.rglob(".submitit"))  # nothing was submitted
