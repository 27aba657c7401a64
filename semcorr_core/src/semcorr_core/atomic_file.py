"""Whole-or-nothing file writes: a reader sees the old file or the complete new one, never half.

Checkpoints, bundles, configs, the ONNX and TensorRT caches and the Fast DDS profile are read by
other processes (a resumed run, DDP ranks, a second node on the same machine) while they may be
rewritten; a crash in the middle must not leave a truncated file behind that the next run loads.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path"]


@contextmanager
def atomic_path(path: str | os.PathLike, *, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; when the block ends without an error it
    replaces ``path`` in one rename (``os.replace``: atomic on one file system). The temporary
    file is removed whatever happens, so an error keeps the old ``path`` as it was.

    fsync: flush the file, and after the rename its folder, to the disk (checkpoints: a power
    loss after the rename must not leave an empty file). The parent folder must exist. The
    temporary name carries the process id and a random part: concurrent writers (DDP ranks) do
    not share one. It is created by the caller's write, so the usual umask applies to the result.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
        if fsync:
            _fsync_folder(target.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # platforms without folder handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
