"""The installed packages meet the floors pyproject.toml declares, and the Lightning behaviour
the 2.6.1 floor exists for is there."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from data.samplers import ResumableSampler

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python >= 3.11")
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
REQUIREMENTS = [
    Requirement(r) for r in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
]


@pytest.mark.parametrize("requirement", REQUIREMENTS, ids=[r.name for r in REQUIREMENTS])
def test_installed_version_meets_the_declared_range(requirement: Requirement) -> None:
    try:
        installed = Version(version(requirement.name))
    except PackageNotFoundError:
        pytest.skip(f"{requirement.name} is not installed here")
    # Local builds (2.13.0+cpu) compare by their public version.
    assert requirement.specifier.contains(Version(installed.public), prereleases=True), (
        f"{requirement.name} {installed} does not satisfy {requirement.specifier}"
    )


def test_lightning_floor_is_at_least_2_6_1() -> None:
    lightning = next(r for r in REQUIREMENTS if r.name == "pytorch-lightning")
    assert not lightning.specifier.contains("2.6.0")
    assert lightning.specifier.contains("2.6.1")


def test_distributed_wrapper_forwards_set_epoch_to_our_sampler() -> None:
    # Lightning wraps a custom training sampler under DDP; without the forwarding (before
    # 2.6.1) a sampler handed to it would stay at epoch 0 and every epoch would repeat its samples.
    from lightning_fabric.utilities.distributed import DistributedSamplerWrapper

    sampler = ResumableSampler(samples_per_epoch=8)
    wrapper = DistributedSamplerWrapper(sampler, num_replicas=2, rank=1, shuffle=False)
    wrapper.set_epoch(3)
    assert sampler.epoch == 3
    assert list(wrapper) == [25, 27, 29, 31]
