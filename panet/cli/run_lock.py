"""One run folder, one process: the lock train.py and evaluate.py hold on their run folder.

The same command started twice (a job resubmitted while it still runs, two terminals) would
train twice in one folder, both writing ``last.ckpt``, logs and ``metrics.json``.
``hold_run_folder`` takes an exclusive ``flock`` on ``.<folder name>.lock`` beside the folder
(beside it, so that a refused run creates nothing inside a folder it may not touch) before
anything reads or writes the folder, and holds it until the run ends; a second process is
refused at once, naming the first (pid, host, start time, command). The kernel drops the lock of
a dead process, so a lock left by a killed run (kill -9, a lost node) is simply taken, and the
record it left says whose it was. On file systems without ``flock`` (some Lustre mounts) the
record alone decides: a live process on this host, or any process on another host, keeps it.

Under DDP only the process of global rank 0 locks (the others run the same command by design).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: flock errors of file systems that do not support it (the record decides instead).
_NO_FLOCK = frozenset({errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL})


class RunFolderInUseError(RuntimeError):
    """Another live process holds the run folder."""


def lock_path(folder: str | os.PathLike[str]) -> Path:
    """The lock file of a run folder: ``.<name>.lock`` beside it."""
    folder = Path(folder).absolute()
    return folder.parent / f".{folder.name}.lock"


def _record() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300],
    }


def _read_record(fd: int) -> dict[str, Any] | None:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = b""
    while chunk := os.read(fd, 65536):
        raw += chunk
    try:
        record = json.loads(raw.decode())
    except (UnicodeDecodeError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _write_record(fd: int, record: dict[str, Any]) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, (json.dumps(record) + "\n").encode())
    os.fsync(fd)


def _describe(record: dict[str, Any] | None) -> str:
    if not record:
        return "an unknown process"
    return (
        f"process {record.get('pid')} on {record.get('host')} (started {record.get('started')}: "
        f"{record.get('command')})"
    )


def _alive_elsewhere(record: dict[str, Any] | None) -> bool:
    """Whether the process of ``record`` may still run (without flock to ask the kernel)."""
    if not record or not isinstance(record.get("pid"), int):
        return False
    if record.get("host") != socket.gethostname():
        return True  # cannot be checked from here
    if record["pid"] == os.getpid():
        return False
    try:
        os.kill(record["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _try_flock(fd: int) -> bool | None:
    """True: locked; False: another process holds it; None: not supported here."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as error:
        if error.errno in _NO_FLOCK:
            return None
        raise
    return True


def _open_lock(path: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise PermissionError(
            f"cannot create the run folder lock {path} ({error.strerror or error}): the run "
            f"writes its folder there. Make {path.parent} writable or choose another folder "
            f"with paths.log_dir=... or run_name=..."
        ) from None


def _refuse(folder: Path, record: dict[str, Any] | None) -> RunFolderInUseError:
    return RunFolderInUseError(
        f"run folder {folder} is in use by {_describe(record)}; wait for it to finish (or stop "
        f"it), or run this elsewhere with run_name=<another name>. If that process is gone, "
        f"delete {lock_path(folder)}"
    )


@contextlib.contextmanager
def hold_run_folder(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold ``folder`` for this process while the block runs (see the module docstring).

    Raises ``RunFolderInUseError`` (one line naming the holder) when a live process holds it.
    """
    folder = Path(folder).absolute()
    path = lock_path(folder)
    while True:
        fd = _open_lock(path)
        locked = _try_flock(fd)
        previous = _read_record(fd)
        if locked is False or (locked is None and _alive_elsewhere(previous)):
            os.close(fd)
            raise _refuse(folder, previous)
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break  # the file we locked is still the lock file (not unlinked meanwhile)
        os.close(fd)
    try:
        if previous and previous.get("pid") != os.getpid():
            print(
                f"took over run folder {folder} from {_describe(previous)}, which is no longer "
                f"running",
                file=sys.stderr,
            )
        _write_record(fd, _record())
        yield
    finally:
        # Unlinked while still locked: a process that opened the old file finds it unlinked
        # after taking the lock and opens the new one (the inode check above).
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


__all__ = ["RunFolderInUseError", "hold_run_folder", "lock_path"]
