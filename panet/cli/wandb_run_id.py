"""A W&B run id that lives in the run folder, so a resumed or requeued run continues the same
W&B run instead of starting a new one.

``configs/logger/wandb.yaml`` sets ``id: ${wandb_run_id:${paths.output_dir}}``; the resolver is
registered by ``panet.cli.run_setup.register_resolvers``, which ``train.py``/``evaluate.py`` call
before the config is resolved (also inside the task function: launchers such as submitit run it
in a fresh process).
"""

from __future__ import annotations

import os
import secrets
import string
from pathlib import Path

from omegaconf import OmegaConf

#: File in the run folder holding the id.
RUN_ID_FILE = "wandb_run_id.txt"
#: Name of the OmegaConf resolver: ``${wandb_run_id:<run folder>}``.
RESOLVER_NAME = "wandb_run_id"
_ALPHABET = string.ascii_lowercase + string.digits
#: Characters accepted in a stored id (a user may write their own).
_VALID = frozenset(string.ascii_letters + string.digits + "-_")


def new_run_id(length: int = 8) -> str:
    """A random id of lowercase letters and digits (W&B's own format)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def persistent_run_id(run_dir: str | os.PathLike[str]) -> str:
    """The id stored in ``run_dir/wandb_run_id.txt``, created (atomically) on first use.

    Two processes creating it at once (e.g. DDP ranks) agree on one id: the file is created
    with ``O_EXCL`` semantics via a hard link, so the loser reads the winner's id.
    """
    run_dir = Path(run_dir)
    path = run_dir / RUN_ID_FILE
    if path.is_file():
        return _read_id(path)
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / f".{RUN_ID_FILE}.{os.getpid()}.{new_run_id()}"
    tmp.write_text(new_run_id() + "\n")
    try:
        os.link(tmp, path)  # fails if another process created the file first
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return _read_id(path)


def _read_id(path: Path) -> str:
    run_id = path.read_text().strip()
    if not run_id or any(c not in _VALID for c in run_id):
        raise ValueError(
            f"{path} holds an invalid W&B run id {run_id!r}; delete the file to get a new one"
        )
    return run_id


def register_resolvers() -> None:
    """Register the ``${wandb_run_id:<run folder>}`` resolver (idempotent)."""
    if not OmegaConf.has_resolver(RESOLVER_NAME):
        OmegaConf.register_new_resolver(RESOLVER_NAME, persistent_run_id, use_cache=True)
