"""Shared helpers for the platform tests: composing the real configs with paths at tmp_path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / "configs"

#: Overrides that make a network tiny (2 blocks of 8 features).
TINY_MODEL = ("model.n_feats=8", "model.n_resblocks=2")
#: The same for model=mprnet/mprnet_s (widths 8/4/4, one CAB per ORB).
TINY_MPRNET = (
    "model.variant=null",
    "model.n_feats=8",
    "model.scale_unetfeats=4",
    "model.scale_orsnetfeats=4",
    "model.num_cab=1",
)
#: Overrides that make any training run tiny (tiny network, 16 px patches).
TINY = (
    *TINY_MODEL,
    "data.patch_size=16",
    "data.batch_size=2",
    "data.samples_per_epoch=8",
    "data.embedded_crop=32",
    "data.num_workers=0",
    "print_config=false",
)
#: TINY for model=mprnet/mprnet_s (patches and crops stay multiples of 8).
TINY_MPRNET_RUN = (*TINY_MPRNET, *(o for o in TINY if o not in TINY_MODEL))


def with_overrides(base: tuple[str, ...], *changes: str) -> tuple[str, ...]:
    """``base`` with the overrides of the same keys replaced by ``changes`` (new keys added)."""
    keys = {change.split("=", 1)[0] for change in changes}
    return (*(o for o in base if o.split("=", 1)[0] not in keys), *changes)


#: TINY with a last.ckpt every step and nothing else written (no test, images, logger,
#: attention maps, progress bar or summary): runs that check checkpoints and resumes.
TINY_CHECKPOINTED = with_overrides(
    TINY,
    "data.test_sets=[]",
    "callbacks.last_checkpoint.every_n_train_steps=1",
    "callbacks.image_panels.num_images=0",
    "~callbacks.attention_maps",
    "~callbacks.progress_bar",
    "logger=none",
    "test=false",
    "trainer.enable_model_summary=false",
)


def compose_config(
    name: str, overrides: list[str] | tuple[str, ...], tmp_path: Path, run_dir: Path | None = None
) -> DictConfig:
    """Compose ``configs/{name}.yaml`` like Hydra's app would, with every path under tmp_path."""
    import train  # noqa: F401  (registers the resolvers)

    GlobalHydra.instance().clear()
    run_dir = run_dir or tmp_path / "run"
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            name,
            overrides=[f"paths.log_dir={tmp_path / 'logs'}", *overrides],
            return_hydra_config=True,
        )
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
    return cfg


def run_script(script: str, args: list[str], tmp_path: Path, timeout: float = 300):
    """Run ``python {script} {args}`` from the repository like a user would; returns the result."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / script), f"paths.log_dir={tmp_path / 'logs'}", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_in_mount_namespace(
    mounts: str, code: str, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run ``python -c code args`` after the shell commands ``mounts`` inside a private user and
    mount namespace (``unshare -rm``), so tests can make real read-only or full file systems;
    skips where the machine has no ``unshare`` or forbids such namespaces."""
    import shutil

    import pytest

    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare is not available")
    probe = subprocess.run([unshare, "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no user mount namespace here: {probe.stderr.decode().strip()}")
    shell = f'{mounts} && exec {sys.executable} -c "$0" "$@"'
    return subprocess.run(
        [unshare, "-rm", "sh", "-c", shell, code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=timeout,
    )
