"""Shared fixtures: locating the public benchmark images and keeping runs hermetic."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _benchmark_root() -> Path:
    """The benchmark folder: $PANET_BENCHMARKS, else ../shared/benchmarks beside the checkout."""
    env = os.environ.get("PANET_BENCHMARKS")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "benchmarks"


@pytest.fixture(scope="session")
def benchmark_root() -> Path:
    """Path of the public benchmark sets; skips the test with the reason when they are absent."""
    root = _benchmark_root()
    if not root.is_dir():
        pytest.skip(
            f"benchmark images not found at {root}: place Kodak24/CBSD68/Set5/classic5 there "
            "or set PANET_BENCHMARKS"
        )
    return root


@pytest.fixture(autouse=True)
def _offline_wandb(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may reach the network or write W&B files outside its temporary folder."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
