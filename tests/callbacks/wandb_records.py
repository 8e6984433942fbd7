"""Reading an offline W&B run file (``run-<id>.wandb``) in tests, with W&B's own protobuf.

The file is W&B's transaction log: a 7-byte header (``:W&B``, magic, version) followed by
LevelDB-log-style records in 32 KiB blocks (each chunk: crc32 4 bytes, length 2 bytes LE,
type 1 byte: 1 full, 2 first, 3 middle, 4 last). wandb >= 0.2x reads it in Go only, so the
tests decode the framing here and parse each payload with ``wandb_internal_pb2.Record``.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2 as pb

FILE_HEADER = 7
BLOCK = 32768
CHUNK_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> Iterator[pb.Record]:
    """Every record of the run file, in order."""
    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B run file")
    pos, pending = FILE_HEADER, b""
    while pos + CHUNK_HEADER <= len(data):
        left_in_block = BLOCK - pos % BLOCK
        if left_in_block < CHUNK_HEADER:  # zero padding at a block's end
            pos += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + CHUNK_HEADER])
        payload = data[pos + CHUNK_HEADER : pos + CHUNK_HEADER + length]
        pos += CHUNK_HEADER + length
        if kind == 0 and length == 0:
            continue
        pending = payload if kind in (FULL, FIRST) else pending + payload
        if kind in (FULL, LAST):
            record = pb.Record()
            record.ParseFromString(pending)
            yield record
            pending = b""


def wait_for_exit(path: Path, timeout_s: float = 30.0) -> None:
    """Wait until the run file holds its ``exit`` record: W&B's core process may still be
    writing when ``wandb.finish()`` returns."""
    deadline = time.monotonic() + timeout_s
    while True:
        kinds = {record.WhichOneof("record_type") for record in records(path)}
        if "exit" in kinds:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} has no exit record after {timeout_s} s: {sorted(kinds)}")
        time.sleep(0.2)


def history(path: Path) -> list[dict[str, Any]]:
    """The logged rows (``wandb.log`` calls) as dicts of key -> decoded JSON value."""
    rows = []
    for record in records(path):
        if record.WhichOneof("record_type") == "history":
            rows.append(
                {
                    (item.key or "/".join(item.nested_key)): json.loads(item.value_json)
                    for item in record.history.item
                }
            )
    return rows


def config_keys(path: Path) -> set[str]:
    """Top-level keys of the run config updates."""
    keys = set()
    for record in records(path):
        if record.WhichOneof("record_type") == "config":
            keys.update(item.key or item.nested_key[0] for item in record.config.update)
    return keys


def run_id(path: Path) -> str:
    """The run id stored in the file's run record."""
    for record in records(path):
        if record.WhichOneof("record_type") == "run":
            return record.run.run_id
    raise ValueError(f"{path} has no run record")


def run_tags_and_group(path: Path) -> tuple[list[str], str]:
    """The tags and the group of the run's (last) ``run`` record."""
    runs = [r.run for r in records(path) if r.WhichOneof("record_type") == "run"]
    if not runs:
        raise ValueError(f"{path} has no run record")
    return list(runs[-1].tags), runs[-1].run_group
