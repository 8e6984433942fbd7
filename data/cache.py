"""One decoded copy of a training folder, shared by every DataLoader worker and DDP process.

`MappedImages.build(files, cache_dir)` decodes every image of `files` once into a single uint8
file `{cache_dir}/{key}.u8` (images back to back, [C, H, W] each) with an index
`{key}.json`, and then reads images as views of a memory map of that file. The operating
system's page cache holds the pixels once for all processes on a machine (workers forked or
spawned, every DDP rank), instead of one decoded copy per worker; pickling a `MappedImages`
(spawned workers) sends the index only, never the pixels.

`key` is a hash of the images' names and a digest of each file's bytes (SHA-256, about 1 GB/s
per core, in parallel: seconds for DIV2K, minutes less than decoding it): a file edited,
replaced (even by `cp -p` or `rsync -t`, which keep the size and the modification time), added
or removed makes a new cache, and unchanged images reuse theirs wherever they live (old caches
are not deleted; remove `cache_dir` to reclaim the space). Building is atomic (temporary files +
rename, index last) and, where `fcntl` exists, serialized by a lock file per key so that DDP
processes starting together build it once; partial files that a killed build left (a
`*.u8.tmp<pid>` of the size of the whole cache) are removed the next time the folder is used,
once no live build holds their key's lock. A complete cache is never written again, so it is
read without any lock, also from a read-only folder; building where nothing can be written is
refused in one line.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from data.sources import ImageFiles
from panet.atomic import TEMP_PREFIX, explain_disk_full, write_text_atomic

CACHE_VERSION = 2
#: How a killed build's partial data file is named: ``{key}{PARTIAL_MARK}{pid}``.
PARTIAL_MARK = ".u8.tmp"
_CHUNK = 1 << 20
#: Errors that say a folder cannot be written (read-only mount, permissions).
_NOT_WRITABLE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (hashlib releases the GIL: threads hash files in parallel)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(files: ImageFiles) -> str:
    """A hash of the images' names and of each file's content (not its path, size or time)."""
    workers = max(1, min(8, len(files.paths), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        digests = list(pool.map(file_digest, files.paths))
    entries = [[name, digest] for name, digest in zip(files.names, digests, strict=True)]
    payload = json.dumps({"version": CACHE_VERSION, "files": entries}, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


class MappedImages(ImageFiles):
    """The images of an `ImageFiles`, decoded once into a shared uint8 memory map.

    Use `MappedImages.build(files, cache_dir)`; `load_uint8(i)` returns a [C, H, W] view of
    the map (copy-on-write: never written back), `load(i)` a float32 copy.
    """

    def __init__(self, files: ImageFiles, data_file: Path, index: dict[str, Any]) -> None:
        super().__init__(files.paths, cache=False, label=files.label)
        self.data_file = Path(data_file)
        self.shapes: list[tuple[int, int, int]] = [tuple(s) for s in index["shapes"]]
        self.offsets: list[int] = list(index["offsets"])
        if index["names"] != list(self.names) or len(self.shapes) != len(self.paths):
            raise ValueError(
                f"decoded cache {self.data_file} does not match {files.label}; delete it"
            )
        self._map: np.ndarray | None = None

    @classmethod
    def build(cls, files: ImageFiles, cache_dir: str | os.PathLike[str]) -> MappedImages:
        """The cache of `files` under `cache_dir`, decoding the images first if needed."""
        cache_dir = Path(cache_dir)
        key = cache_key(files)
        data_file, index_file = cache_dir / f"{key}.u8", cache_dir / f"{key}.json"
        if not index_file.is_file():  # a complete cache is read as it is, without a lock
            with _build_lock(files, cache_dir, key):
                _report_removed(remove_partial_files(cache_dir, keep=key))
                if not index_file.is_file():
                    _write_cache(files, data_file, index_file)
        else:
            with contextlib.suppress(OSError):  # a read-only folder keeps what it has
                _report_removed(remove_partial_files(cache_dir, keep=None))
        index = json.loads(index_file.read_text())
        return cls(files, data_file, index)

    def load_uint8(self, index: int) -> torch.Tensor:
        shape = self.shapes[index]
        start = self.offsets[index]
        flat = self._mapped()[start : start + shape[0] * shape[1] * shape[2]]
        return torch.from_numpy(flat.reshape(shape))

    def _mapped(self) -> np.ndarray:
        if self._map is None:
            # "c": copy-on-write; pages are shared until written, and nothing writes them.
            self._map = np.memmap(self.data_file, dtype=np.uint8, mode="c")
        return self._map

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_map"] = None  # reopened in the receiving process; pixels never pickled
        return state


def _write_cache(files: ImageFiles, data_file: Path, index_file: Path) -> None:
    """Decode every image of `files` into `data_file` (atomically), then write the index; a
    full disk is one line (``panet.atomic.DiskFullError``) and leaves no partial file."""
    shapes, offsets, offset = [], [], 0
    partial = data_file.with_name(data_file.name + f"{PARTIAL_MARK}{os.getpid()}")
    try:
        with explain_disk_full(data_file, previous_kept=False), open(partial, "wb") as out:
            for i in range(len(files)):
                image = files.load_uint8(i).contiguous()
                out.write(image.numpy().tobytes())
                shapes.append(list(image.shape))
                offsets.append(offset)
                offset += image.numel()
        os.replace(partial, data_file)
    finally:
        partial.unlink(missing_ok=True)
    index = {"names": list(files.names), "shapes": shapes, "offsets": offsets}
    write_text_atomic(index_file, json.dumps(index) + "\n")


@contextlib.contextmanager
def _build_lock(files: ImageFiles, cache_dir: Path, key: str) -> Iterator[None]:
    """Hold the build lock of ``key``; one line when ``cache_dir`` cannot be written."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        handle = open(cache_dir / f"{key}.lock", "a")  # noqa: SIM115 (closed below)
    except OSError as error:
        if error.errno not in _NOT_WRITABLE:
            raise
        raise ValueError(
            f"cannot build the decoded cache of {files.label} in {cache_dir}: the folder is "
            f"read-only or not writable here ({error.strerror}) and holds no cache of these "
            f"{len(files)} images; build it once where it is writable, or set data.cache_dir "
            f"to a writable folder (a complete cache is used read-only)"
        ) from None
    with handle:
        _lock(handle, blocking=True)
        yield


def _lock(handle: IO[Any], *, blocking: bool) -> bool:
    """An exclusive ``flock`` on ``handle`` (True where ``fcntl`` is missing: Windows builders
    each write, and the last rename wins); False when ``blocking`` is off and it is held."""
    try:
        import fcntl
    except ImportError:
        return True
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _partial_key(path: Path) -> str | None:
    """The cache key a partial file belongs to (None for other files)."""
    name = path.name
    if PARTIAL_MARK in name:
        return name.split(PARTIAL_MARK, 1)[0]
    if name.startswith(TEMP_PREFIX) and ".json." in name:  # the index's atomic writer
        return name[len(TEMP_PREFIX) :].split(".", 1)[0]
    return None


def _report_removed(paths: list[Path]) -> None:
    for path in paths:
        print(f"removed {path}, left by a killed cache build", file=sys.stderr)


def remove_partial_files(cache_dir: Path, *, keep: str | None) -> list[Path]:
    """Delete the partial files of builds that are no longer running: those of ``keep`` (whose
    lock the caller holds) and those of any key whose lock nobody holds. Returns them."""
    partial: dict[str, list[Path]] = {}
    for path in cache_dir.iterdir():
        key = _partial_key(path)
        if key is not None and path.is_file():
            partial.setdefault(key, []).append(path)
    removed = []
    for key, paths in sorted(partial.items()):
        if key == keep:
            removed += _unlink(paths)
            continue
        with open(cache_dir / f"{key}.lock", "a") as handle:
            if _lock(handle, blocking=False):  # no live build of that key
                removed += _unlink(paths)
    return removed


def _unlink(paths: list[Path]) -> list[Path]:
    for path in paths:
        path.unlink(missing_ok=True)
    return sorted(paths)
