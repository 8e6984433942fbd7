"""The dependency rule of the layout: the core of ``panet/`` is plain PyTorch, and packages
depend on each other one way (core <- data <- callbacks <- train.py / evaluate.py)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The core: everything of panet/ except the LightningModule and the Hydra application layer.
#: ``report`` reads metrics.json files and writes Markdown/CSV/PNG (matplotlib, imported when
#: plotting): it needs none of the frameworks either.
CORE_PACKAGES = (
    "models",
    "attention",
    "evaluation",
    "imaging",
    "inference",
    "checkpoints",
    "report",
    "losses",
)
CORE_MODULES = ("panet", "panet.atomic", "panet.stop", "panet.tasks")
#: Top-level names the core may not import (the frameworks, and the packages above it).
FORBIDDEN_IN_CORE = (
    "pytorch_lightning",
    "lightning",
    "lightning_fabric",
    "torchmetrics",
    "hydra",
    "omegaconf",
    "wandb",
    "rich",
    "data",
    "callbacks",
)

# Runs in a fresh interpreter in which the forbidden names cannot be imported at all, imports
# every core module, and prints the modules it imported.
_PROBE = """
import importlib, json, pkgutil, sys

forbidden = set(sys.argv[1].split(","))

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in forbidden:
            raise ModuleNotFoundError(f"{name} is not importable from the core", name=name)
        return None

sys.meta_path.insert(0, Block())
imported = []
for name in sys.argv[3].split(","):
    importlib.import_module(name)
    imported.append(name)
for package in sys.argv[2].split(","):
    module = importlib.import_module(f"panet.{package}")
    imported.append(module.__name__)
    for info in pkgutil.walk_packages(module.__path__, f"{module.__name__}."):
        importlib.import_module(info.name)
        imported.append(info.name)
print(json.dumps(imported))
"""


def _python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _core_files() -> list[Path]:
    files = [REPO_ROOT / "panet" / f"{name.split('.')[-1]}.py" for name in CORE_MODULES[1:]]
    files.append(REPO_ROOT / "panet" / "__init__.py")
    for package in CORE_PACKAGES:
        files += _python_files(REPO_ROOT / "panet" / package)
    return files


def imported_names(path: Path) -> set[str]:
    """Every module name an ``import``/``from ... import`` anywhere in the file refers to
    (including imports inside functions, which an import test alone would not run)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _violations(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in files:
        for name in sorted(imported_names(path)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(REPO_ROOT)} imports {name}")
    return found


def test_every_core_module_imports_without_the_frameworks() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _PROBE,
            ",".join(FORBIDDEN_IN_CORE),
            ",".join(CORE_PACKAGES),
            ",".join(CORE_MODULES),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    imported = set(json.loads(result.stdout.strip().splitlines()[-1]))
    expected = {
        ".".join(p.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in _core_files()
    }
    assert expected <= imported, f"core modules not imported: {sorted(expected - imported)}"


def test_no_core_module_names_a_framework_or_an_upper_package() -> None:
    assert _violations(_core_files(), FORBIDDEN_IN_CORE) == []


def test_data_imports_only_the_core() -> None:
    upper = ("callbacks", "panet.training", "panet.cli", "train", "evaluate")
    assert _violations(_python_files(REPO_ROOT / "data"), upper) == []


def test_callbacks_do_not_import_the_application_layer() -> None:
    upper = ("panet.training", "panet.cli", "train", "evaluate")
    assert _violations(_python_files(REPO_ROOT / "callbacks"), upper) == []


def test_lightning_lives_only_in_training_within_panet() -> None:
    others = [p for p in _python_files(REPO_ROOT / "panet") if "training" not in p.parts]
    assert _violations(others, ("pytorch_lightning", "lightning", "lightning_fabric")) == []


@pytest.mark.parametrize("name", ["omegaconf", "data.degradations"])
def test_the_scan_sees_a_lazy_import(tmp_path: Path, name: str) -> None:
    module = tmp_path / "module.py"
    module.write_text(f"def f():\n    import {name}\n")
    assert imported_names(module) == {name}
