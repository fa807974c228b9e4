"""Atomic file writes: readers see the old files or the new ones, never half of either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Replace ``path`` with ``data``: temporary file in the same directory, fsync, rename.

    If anything fails (disk full, or the process is killed) before the rename, the old file is
    untouched; the temporary file is removed (after a kill it may stay, as a hidden ``.NAME.*.tmp``).
    """
    replace_all({Path(path): data})


def replace_all(contents: dict[Path, bytes]) -> None:
    """Replace several files: all are written and flushed first, then renamed in the given order.

    A failure while writing (the usual one: no space left) changes none of the files; only a
    kill between the renames, a window of microseconds, can leave some replaced and some not.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in contents.items():
            staged.append((_stage(Path(path), data), Path(path)))
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise
    try:
        for temporary, path in staged:
            os.replace(temporary, path)
    except BaseException:  # a target that cannot be replaced (a directory, say): no temporary file stays
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise
    for directory in {path.parent for _, path in staged}:
        _fsync_directory(directory)


def _stage(path: Path, data: bytes) -> Path:
    """Write ``data`` to a new temporary file beside ``path``, on disk; return its name."""
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temporary = Path(name)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(descriptor, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _fsync_directory(directory: Path) -> None:
    # A rename is durable only once the directory entry is on disk.
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
