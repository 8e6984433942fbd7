"""One way to read a downloaded data set, whether it is still an archive or already extracted.

``open_source(path)`` takes a folder, a zip file or a tar file (plain, gzip, bzip2 or xz) and
returns a ``Source``: the relative POSIX paths of its regular files (``files``) and their bytes,
read in storage order (``read``), so a compressed tar is decompressed once per pass and never
unpacked to disk. Entries that are not data are skipped: folders, links, macOS resource forks
(``__MACOSX/``, ``._*``), ``.DS_Store``, ``Thumbs.db``, and names that are absolute or climb
out with ``..`` (nothing is ever extracted under an archive's own names anyway).
"""

from __future__ import annotations

import os
import tarfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

#: File names that archivers add and no data set contains.
JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
#: Archive formats people download data sets as that the standard library cannot read.
UNSUPPORTED_SUFFIXES = (".7z", ".rar")
#: Names of the archives read here (a file so named that does not open is damaged).
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


class SourceError(ValueError):
    """A SOURCE that cannot be read: not a folder or archive, or a damaged archive."""


def clean_member(name: str) -> str | None:
    """The relative POSIX path of an archive entry, or None when it is not data."""
    path = PurePosixPath(name.replace("\\", "/"))
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts or path.is_absolute() or ".." in parts:
        return None
    if parts[0] == "__MACOSX" or parts[-1].startswith("._") or parts[-1] in JUNK_NAMES:
        return None
    return "/".join(parts)


class Source:
    """The regular files of a folder or archive. ``label`` names it in messages."""

    label: str
    files: list[str]

    def read(self, wanted: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """``(file, bytes)`` for each of ``wanted``, in the order they are stored."""
        raise NotImplementedError

    def read_one(self, member: str) -> bytes:
        """The bytes of one file."""
        for _, data in self.read([member]):
            return data
        raise SourceError(f"{member} is not in {self.label}")


class FolderSource(Source):
    """The files of a folder and (``recursive``) of every folder below it."""

    def __init__(self, root: Path, recursive: bool = True) -> None:
        self.root = root
        self.label = str(root)
        found = []
        for folder, dirs, names in os.walk(root, followlinks=True):
            dirs[:] = sorted(dirs) if recursive else []
            relative = Path(folder).relative_to(root)
            for name in sorted(names):
                member = clean_member((relative / name).as_posix())
                if member is not None and (root / member).is_file():
                    found.append(member)
        self.files = found

    def read(self, wanted: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        wanted = set(wanted)
        for member in self.files:
            if member in wanted:
                yield member, (self.root / member).read_bytes()


class ZipSource(Source):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = str(path)
        with zipfile.ZipFile(path) as archive:
            entries = [(clean_member(i.filename), i) for i in archive.infolist() if not i.is_dir()]
        self._names = {member: info.filename for member, info in entries if member is not None}
        self.files = list(self._names)

    def read(self, wanted: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        wanted = set(wanted)
        with zipfile.ZipFile(self.path) as archive:
            for member in self.files:
                if member in wanted:
                    try:
                        yield member, archive.read(self._names[member])
                    except (zipfile.BadZipFile, EOFError, OSError) as error:
                        raise SourceError(f"{self.label}: cannot read {member}: {error}") from error


class TarSource(Source):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = str(path)
        try:
            with tarfile.open(path, "r:*") as archive:
                members = archive.getmembers()
        except (tarfile.TarError, EOFError, OSError) as error:
            raise SourceError(damaged(path, error)) from error
        self.files = [m for m in (clean_member(i.name) for i in members if i.isfile()) if m]

    def read(self, wanted: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        wanted = set(wanted)
        try:
            with tarfile.open(self.path, "r:*") as archive:
                for info in archive:
                    member = clean_member(info.name) if info.isfile() else None
                    if member in wanted:
                        handle = archive.extractfile(info)
                        assert handle is not None  # a regular file always has one
                        yield member, handle.read()
        except (tarfile.TarError, EOFError, OSError) as error:
            raise SourceError(damaged(self.path, error)) from error


def damaged(path: Path, error: BaseException) -> str:
    return (
        f"cannot read the archive {path}: {error}. It may be an incomplete download; download "
        "it again (or extract it and pass the folder)"
    )


def open_source(path: str | os.PathLike[str]) -> Source:
    """The ``Source`` of a folder, zip or tar file (see the module docstring)."""
    path = Path(path)
    if path.is_dir():
        return FolderSource(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if zipfile.is_zipfile(path):
        try:
            return ZipSource(path)
        except (zipfile.BadZipFile, OSError) as error:
            raise SourceError(damaged(path, error)) from error
    if tarfile.is_tarfile(path):
        return TarSource(path)
    if path.name.lower().endswith(ARCHIVE_SUFFIXES):
        raise SourceError(damaged(path, "not a readable zip or tar file"))
    hint = (
        f"; {path.suffix} archives are not read here: extract it and pass the folder"
        if path.suffix.lower() in UNSUPPORTED_SUFFIXES
        else ""
    )
    raise SourceError(
        f"{path} is neither a folder nor a zip or tar archive (.zip, .tar, .tar.gz, .tgz, "
        f".tar.bz2, .tar.xz){hint}"
    )
