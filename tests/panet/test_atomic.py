"""panet.atomic: a destination is replaced whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from panet.atomic import TEMP_PREFIX, atomic_write, write_text_atomic


def test_write_creates_folders_and_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "metrics.json"
    write_text_atomic(path, "first")
    write_text_atomic(path, "second")
    assert path.read_text() == "second"
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]


def test_an_error_mid_write_keeps_the_previous_content(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("complete old table")
    with pytest.raises(RuntimeError, match="killed"), atomic_write(path) as handle:
        handle.write(b"half of a new ta")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "complete old table"
    assert not list(tmp_path.glob(TEMP_PREFIX + "*"))
