"""One trainer per folder: an OS lock (``flock``) on ``<folder>/tunewiz.lock`` (``layout.LOCK``), held for
the whole run.

The kernel drops a ``flock`` when its holder's last descriptor closes, so a trainer that crashes or is
killed (kill -9 included) never leaves a folder locked: the next one finds the file and locks it.  While
held, the file names the owner (pid, host, command, working folder, start time, as JSON) so a refused
trainer, or the wizard, can say who has the folder.  A finished owner removes the file; since the file may
be removed between another process's ``open`` and its ``flock``, an acquirer checks that the file it
locked is still the one at that name, and tries again if not.

``flock`` locks are per open file: a second lock of the same folder from this same process is refused
too (so it takes a fresh descriptor each time, and tests can play the owner in-process).  Where ``fcntl``
does not exist (Windows), folders are not locked.
"""
from __future__ import annotations

import datetime
import json
import os
import shlex
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tunewiz.errors import TunewizError
from tunewiz.runs.layout import LOCK

try:
    import fcntl
except ImportError:  # Windows: no flock; one trainer per folder is then the user's care
    fcntl = None


class FolderBusy(TunewizError):
    """Another trainer holds the folder (the message names it and the ways out)."""


@dataclass
class Owner:
    """Who holds a folder, as its lock file says (pid 0: it has not written its name yet)."""

    pid: int = 0
    host: str = ""
    command: str = ""
    cwd: str = ""
    since: str = ""

    def describe(self) -> str:
        """``pid 4242 (since 2026-01-31 14:02:11): python -m tunewiz train --solver s.prototxt``."""
        if not self.pid:
            return "a process that has not written its name yet"
        host = f" on {self.host}" if self.host and self.host != socket.gethostname() else ""
        since = f"since {self.since}" if self.since else "start unknown"
        where = f" (in {self.cwd})" if self.cwd and self.cwd != os.getcwd() else ""  # its relative paths start there
        return f"pid {self.pid}{host} ({since}): {self.command or 'command unknown'}{where}"


def this_process() -> Owner:
    """This process as an :class:`Owner` (the command as it was typed: ``python -m tunewiz train ...``)."""
    argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
    return Owner(os.getpid(), socket.gethostname(), shlex.join(argv), os.getcwd(),
                 datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"))


class FolderLock:
    """A held lock; :meth:`release` (or process exit) frees it."""

    def __init__(self, folder: Path, fd: int | None) -> None:
        self.folder, self.path, self._fd = folder, folder / LOCK, fd

    def release(self) -> None:
        """Remove the lock file (while still holding it: nobody can be mid-acquire on it), then let go."""
        if self._fd is None:
            return
        try:
            if _same_file(self._fd, self.path):
                self.path.unlink()
        except OSError:  # a read-only or vanished folder: the lock goes with the descriptor anyway
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "FolderLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_folder(folder: str | os.PathLike, busy_message) -> FolderLock:
    """Lock ``folder`` for this process or raise :class:`FolderBusy` with ``busy_message(owner)``.

    OSError (no such folder, not writable) is left to the caller, who knows what the folder is for.
    """
    folder = Path(folder)
    if fcntl is None:
        return FolderLock(folder, None)
    path = folder / LOCK
    tries = 0
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            tries += 1
            if tries < 5:  # folder_owner's probe holds a shared lock for a moment: not an owner
                time.sleep(0.05)
                continue
            raise FolderBusy(busy_message(_read_owner(path))) from None
        if _same_file(fd, path):  # not removed by a finishing owner between our open and flock
            break
        os.close(fd)
    info = this_process()
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info.__dict__) + "\n").encode(), 0)
    return FolderLock(folder, fd)


def folder_owner(folder: str | os.PathLike) -> Owner | None:
    """Who holds ``folder`` now (None: nobody; a trainer of this very process counts as somebody)."""
    path = Path(folder) / LOCK
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None  # no lock file (or unreadable): nobody holds it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_owner(path)
    finally:
        os.close(fd)
    return None


def _read_owner(path: Path) -> Owner:
    """The owner a lock file names; a holder that locked a moment ago may not have written it yet."""
    for _ in range(20):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Owner(**{k: data[k] for k in Owner.__dataclass_fields__ if k in data})
        except (OSError, ValueError, TypeError):
            time.sleep(0.01)
    return Owner()


def _same_file(fd: int, path: Path) -> bool:
    try:
        mine, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)
