"""Optional parts of the install, asked for by name when a command needs them.

The Optuna sweeper (``hparams_search=...``) pins optuna < 3, SQLAlchemy < 2 and an old alembic,
so it is the extra ``search`` (``pip install -e ".[search]"``) rather than a core dependency.
Without it Hydra would only say that it cannot find ``hydra/sweeper/optuna``; train.py checks
its command line first and names the extra in one line.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Sequence

#: The modules ``hparams_search=`` needs: Hydra's Optuna sweeper plugin and Optuna itself.
SEARCH_MODULES: tuple[str, ...] = ("hydra_plugins.hydra_optuna_sweeper", "optuna")
SEARCH_HINT = (
    'hparams_search= needs the Optuna sweeper, an optional extra: pip install -e ".[search]" '
    '(or pip install "panet-lab[search]")'
)


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a missing parent package, or an import system that refuses it
        return False


def search_installed() -> bool:
    return all(installed(module) for module in SEARCH_MODULES)


def search_requested(argv: Sequence[str]) -> bool:
    """Whether the command line selects an Optuna search (``hparams_search=<name>``)."""
    for arg in argv:
        key, sep, value = str(arg).partition("=")
        if sep and key.lstrip("+~") == "hparams_search" and value.strip("'\" ") not in ("", "null"):
            return True
    return False


def require_search_extra(
    argv: Sequence[str], available: Callable[[], bool] = search_installed
) -> None:
    """Exit with status 2 and :data:`SEARCH_HINT` when ``argv`` asks for a search that the
    install cannot run."""
    if search_requested(argv) and not available():
        print(SEARCH_HINT, file=sys.stderr)
        raise SystemExit(2)


__all__ = [
    "SEARCH_HINT",
    "SEARCH_MODULES",
    "require_search_extra",
    "search_installed",
    "search_requested",
]
