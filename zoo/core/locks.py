"""One writer per folder: `FolderLock`, an OS file lock held by the process that writes a run
folder or an export folder, and `real_folder`, the one spelling of a folder that every path is
joined onto.

The lock is `fcntl.flock` on `<folder>/.zoo.lock` (the holder's pid and command are written in
it, for the message a second writer gets). The kernel drops it when the holder exits, however it
exits (SIGKILL, a crash), so a lock is never stale: the file that stays behind is free to the next
writer. Where `fcntl` is missing (Windows) the file itself is the lock (`os.O_EXCL`), and one
whose pid is no longer running is taken over.

Example:
    >>> from zoo.core.locks import FolderLock
    >>> with FolderLock("/tmp/zoo-doc-lock", "run folder", argument="run_dir"):
    ...     pass  # write the folder: a second FolderLock on it waits or refuses meanwhile
"""

from __future__ import annotations

import os
import sys
import time
from typing import Optional

try:
    import fcntl
except ImportError:  # pragma: no cover -- Windows
    fcntl = None

__all__ = ["LOCK_NAME", "FolderBusyError", "FolderLock", "pid_alive", "real_folder", "shown_path"]

LOCK_NAME = ".zoo.lock"


class FolderBusyError(ValueError):
    """Another process writes the folder (a second `zoo train` of one run folder, ...)."""


def real_folder(path) -> str:
    """`path` made absolute against the working folder of now, with every symbolic link
    resolved: a relative run folder means the same folder after a `chdir`, and two spellings of
    one folder (a symlink, `a/../a`) share its checkpoints and its lock.

    Example:
        >>> import os
        >>> real_folder("runs/x") == os.path.join(os.path.realpath(os.getcwd()), "runs", "x")
        True
    """
    return os.path.realpath(os.path.abspath(os.path.expanduser(os.fspath(path))))


def shown_path(path) -> str:
    """`path` as a report line shows it: relative to the working folder when it lies inside it
    (`saved_models/x/1`, as the user named it), else absolute.

    Example:
        >>> import os
        >>> shown_path(real_folder("saved_models/x/1"))
        'saved_models/x/1'
        >>> shown_path("/") == "/"
        True
    """
    here = os.path.realpath(os.getcwd())
    path = os.path.realpath(os.path.abspath(os.fspath(path)))
    inside = os.path.commonpath([here, path]) == here and path != here
    return os.path.relpath(path, here) if inside else path


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


class FolderLock:
    """The lock of one folder's writer (created with its parents when missing).

    Args:
        folder: the folder.
        what: what the folder is, for the message ("run folder", "export folder").
        argument: the argument that named it, for the message (`run_dir`, `export_dir`).
        wait: seconds to wait for another writer to finish before refusing (0: refuse at once).
        lock_name: the lock file's name in `folder` (several locks in one folder: one per
            export name in an export folder).
    """

    def __init__(self, folder, what: str = "folder", argument: str = "folder", wait: float = 0.0,
                 lock_name: str = LOCK_NAME):
        self.folder = real_folder(folder)
        self.path = os.path.join(self.folder, lock_name)
        self.what, self.argument, self.wait = what, argument, float(wait)
        self.target = self.folder  # the folder written, for the messages
        self._fd: Optional[int] = None

    def acquire(self) -> "FolderLock":
        """Take the lock, waiting up to `wait` seconds; else `FolderBusyError` naming the holder."""
        if self._fd is not None:
            return self
        os.makedirs(self.folder, exist_ok=True)
        deadline, told = time.monotonic() + self.wait, False
        while True:
            if self._try():
                return self
            holder = self._holder()
            if time.monotonic() >= deadline:
                raise FolderBusyError(
                    f"The {self.what} {self.target} is being written by another process "
                    f"({holder}); wait for it to finish or use another folder. "
                    f"Received: {self.argument}={self.target!r}")
            if not told:
                print(f"[zoo] waiting for {holder} to finish writing {self.target}",
                      file=sys.stderr, flush=True)
                told = True
            time.sleep(0.2)

    def _try(self) -> bool:
        info = f"{os.getpid()} {' '.join(sys.argv)[:200]}\n".encode()
        if fcntl is not None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            os.ftruncate(fd, 0)
            os.write(fd, info)
            self._fd = fd
            return True
        try:  # pragma: no cover -- Windows: the file is the lock
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:  # pragma: no cover
            pid = self._holder_pid()
            if pid is not None and not pid_alive(pid):  # stale: its writer died
                try:
                    os.remove(self.path)
                except OSError:
                    pass
            return False
        os.write(fd, info)  # pragma: no cover
        self._fd = fd  # pragma: no cover
        return True  # pragma: no cover

    def _holder_pid(self) -> Optional[int]:
        try:
            with open(self.path) as f:
                return int(f.read().split(maxsplit=1)[0])
        except (OSError, ValueError, IndexError):
            return None

    def _holder(self) -> str:
        try:
            with open(self.path) as f:
                pid, _, command = f.read().strip().partition(" ")
        except OSError:
            return "a process"
        return f"process {pid}: {command}" if command else f"process {pid or '?'}"

    def release(self) -> None:
        """Let the next writer in (the lock file stays: removing it would race a waiter)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        else:  # pragma: no cover
            os.close(fd)
            os.remove(self.path)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
