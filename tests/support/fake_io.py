"""An in-memory FileIO that behaves like a disk losing power.

What a process sees (``content``) and what survives a crash (``durable``) are kept apart:
``fsync`` copies the first into the second; a directory entry survives only after
``fsync_dir`` of its directory. ``crash`` throws away everything unsynced, except that the
last write may be torn: a prefix of the unsynced bytes survives, optionally followed by zeros
(pages whose size reached the disk but whose data did not).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from pathlib import Path


class PowerLoss(Exception):
    """Raised by the fake to stop the program where the power went out."""


@dataclass
class FakeFile:
    content: bytearray = field(default_factory=bytearray)
    durable: bytes = b""
    name_durable: bool = False


@dataclass
class Handle:
    path: Path
    mode: str
    closed: bool = False


class PowerLossIO:
    def __init__(self) -> None:
        self.files: dict[Path, FakeFile] = {}
        self.fail_fsync: OSError | None = None  # next fsync raises this
        self.power_loss_at_fsync = False  # next fsync loses power before syncing
        self.tear_next_write_at: int | None = None  # next write keeps this many bytes, then EIO
        self.free_bytes: int | None = None  # a disk this full: writes past it keep what fits, then ENOSPC
        self.calls: list[tuple[str, str]] = []

    # ---- FileIO
    def open(self, path: Path, mode: str) -> Handle:
        path = Path(path)
        self.calls.append(("open", path.name))
        if mode == "create":
            if path in self.files:
                raise FileExistsError(errno.EEXIST, "exists", str(path))
            self.files[path] = FakeFile()
        elif mode == "append":
            self.files.setdefault(path, FakeFile())
        else:
            raise ValueError(mode)
        return Handle(path, mode)

    def write(self, handle: Handle, data: bytes) -> None:
        assert not handle.closed
        self.calls.append(("write", handle.path.name))
        file = self.files[handle.path]
        if self.tear_next_write_at is not None:
            keep, self.tear_next_write_at = self.tear_next_write_at, None
            file.content += data[:keep]
            raise OSError(errno.EIO, "torn write")
        if self.free_bytes is not None:
            fits = data[: self.free_bytes]
            file.content += fits
            self.free_bytes -= len(fits)
            if len(fits) < len(data):
                raise OSError(errno.ENOSPC, "No space left on device")
            return
        file.content += data

    def fsync(self, handle: Handle) -> None:
        assert not handle.closed
        self.calls.append(("fsync", handle.path.name))
        if self.power_loss_at_fsync:
            self.power_loss_at_fsync = False
            raise PowerLoss()
        if self.fail_fsync is not None:
            exc, self.fail_fsync = self.fail_fsync, None
            raise exc
        file = self.files[handle.path]
        file.durable = bytes(file.content)

    def truncate(self, handle: Handle, size: int) -> None:
        self.calls.append(("truncate", handle.path.name))
        content = self.files[handle.path].content
        if self.free_bytes is not None:
            self.free_bytes += max(0, len(content) - size)
        del content[size:]

    def close(self, handle: Handle) -> None:
        handle.closed = True

    def read(self, path: Path) -> bytes:
        path = Path(path)
        if path not in self.files:
            raise FileNotFoundError(errno.ENOENT, "missing", str(path))
        return bytes(self.files[path].content)

    def fsync_dir(self, path: Path) -> None:
        self.calls.append(("fsync_dir", Path(path).name))
        for name, file in self.files.items():
            if name.parent == Path(path):
                file.name_durable = True

    def remove(self, path: Path) -> None:
        path = Path(path)
        self.calls.append(("remove", path.name))
        if path not in self.files:
            raise FileNotFoundError(errno.ENOENT, "missing", str(path))
        removed = self.files.pop(path)
        if self.free_bytes is not None:
            self.free_bytes += len(removed.content)

    # ---- the power cut
    def crash(self, *, tear: dict[Path, int] | None = None, zero_fill: int = 0) -> None:
        """Lose power. ``tear[path]`` unsynced bytes of that file survive (a prefix), then ``zero_fill`` zeros."""
        tear = tear or {}
        survivors: dict[Path, FakeFile] = {}
        for path, file in self.files.items():
            if not file.name_durable:
                continue
            content = bytearray(file.durable)
            keep = tear.get(path, 0)
            if keep and bytes(file.content[: len(file.durable)]) == file.durable:
                unsynced = file.content[len(file.durable) :]
                content += unsynced[:keep]
                content += b"\0" * zero_fill
            survivors[path] = FakeFile(content, bytes(content), True)
        self.files = survivors
