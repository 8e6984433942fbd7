"""One decoded copy of a training folder, shared by every DataLoader worker and DDP process.

`MappedImages.build(files, cache_dir)` decodes every image of `files` once into a single uint8
file `{cache_dir}/{key}.u8` (images back to back, [C, H, W] each) with an index
`{key}.json`, and then reads images as views of a memory map of that file. The operating
system's page cache holds the pixels once for all processes on a machine (workers forked or
spawned, every DDP rank), instead of one decoded copy per worker; pickling a `MappedImages`
(spawned workers) sends the index only, never the pixels.

`key` is a hash of the files' paths, sizes and modification times: editing, adding or removing
an image makes a new cache (old ones are not deleted; remove `cache_dir` to reclaim the
space). Building is atomic (temporary files + rename, index last) and, where `fcntl` exists,
serialized by a lock file so that DDP processes starting together build it once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from data.sources import ImageFiles
from panet.atomic import write_text_atomic

CACHE_VERSION = 1


def cache_key(files: ImageFiles) -> str:
    """A hash of the files' absolute paths, sizes and modification times."""
    entries = []
    for path in files.paths:
        stat = path.stat()
        entries.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
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
        cache_dir.mkdir(parents=True, exist_ok=True)
        key = cache_key(files)
        data_file, index_file = cache_dir / f"{key}.u8", cache_dir / f"{key}.json"
        with _exclusive(cache_dir / f"{key}.lock"):
            if not index_file.is_file():
                _write_cache(files, data_file, index_file)
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
    """Decode every image of `files` into `data_file` (atomically), then write the index."""
    shapes, offsets, offset = [], [], 0
    partial = data_file.with_name(data_file.name + f".tmp{os.getpid()}")
    try:
        with open(partial, "wb") as out:
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
def _exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file` (a no-op where `fcntl` is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: concurrent builders each write, the last rename wins
        yield
        return
    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
