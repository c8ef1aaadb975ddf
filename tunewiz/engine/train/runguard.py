"""What a trainer claims before it writes anything: its folders, its snapshot names, and the leftovers.

* Its folders, locked for the whole run (:mod:`tunewiz.runs.lock`): the run folder (train.log,
  events.jsonl) and the snapshot_prefix's folder, so two trainers never interleave one log or write the
  same snapshot names.  A second trainer is refused with the owner's pid and command.
* Its snapshot names: a new run starts at iteration 0, so every ``<prefix>_iter_N.*`` already there is
  another run's and would be mixed with (or replaced by) this run's: refused, with the files and the ways
  out (resume, another snapshot_prefix, delete them).  A resume from iteration R only writes past R, so
  only files with N > R are in its way.  Checked here, before training, not at the first snapshot.
* The leftovers: temporaries of a tunewiz process killed mid-write (:mod:`tunewiz.caffe.tempfiles`)
  whose process is gone are removed from the locked folders, and the log says so.  Holding the folder's
  lock, no other trainer can be writing there; a live process's temporaries are never touched.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from tunewiz.caffe.tempfiles import temp_owner
from tunewiz.engine.train.snapshot import SIDECAR_SUFFIX, resolve
from tunewiz.errors import TunewizError
from tunewiz.runs.layout import LOCK
from tunewiz.runs.lock import FolderBusy, FolderLock, lock_folder

_EXTS = (".caffemodel", ".solverstate", ".caffemodel.h5", ".solverstate.h5", SIDECAR_SUFFIX)


class SnapshotsInTheWay(TunewizError):
    """Snapshot files of another run sit where this run would write its own."""


@dataclass
class Stale:
    """A temporary removed: where, how big, whose."""

    path: Path
    size: int
    pid: int


@dataclass
class Claim:
    """The locks a trainer holds and the stale temporaries it removed; :meth:`release` at the end."""

    locks: list[FolderLock] = field(default_factory=list)
    removed: list[Stale] = field(default_factory=list)

    def release(self) -> None:
        for lock in reversed(self.locks):
            lock.release()
        self.locks = []

    def log_to(self, log) -> None:
        """One ``W`` line per dead process whose temporaries were removed (a kill is worth noticing)."""
        for pid in sorted({s.pid for s in self.removed}):
            mine = [s for s in self.removed if s.pid == pid]
            folders = sorted({str(s.path.parent) for s in mine})
            size = _size(sum(s.size for s in mine))
            log.warning("tunewiz", f"tunewiz: removed {len(mine)} stale temporary file(s), {size}, left in "
                                   f"{', '.join(folders)} by tunewiz process {pid}, which ended before finishing "
                                   f"them (killed during a snapshot?): {', '.join(s.path.name for s in mine)}")


def claim_run(run_dir, sp, solver_path: str, snapshot: str | None, root=".") -> Claim:
    """Lock ``run_dir`` and the snapshot folder, check the snapshot names, remove stale temporaries.

    Raises :class:`FolderBusy` or :class:`SnapshotsInTheWay` (one line each) having changed nothing.
    """
    claim = Claim()
    try:
        run_dir = Path(run_dir)
        try:
            claim.locks.append(lock_folder(run_dir, lambda owner: _busy(f"run folder {run_dir}", owner,
                                                                        "give another --run_dir")))
        except OSError as exc:
            raise TunewizError(f"--run_dir {run_dir}: cannot create {LOCK} there ({exc.strerror}); give a "
                               "run folder you can write to") from None
        prefix = sp.snapshot_prefix
        folder = Path(os.path.split(str(resolve(root, prefix)))[0] or ".")
        if folder.is_dir() and not _same_folder(folder, run_dir):
            fix = f"change snapshot_prefix in {solver_path}"
            try:
                claim.locks.append(lock_folder(folder, lambda owner: _busy(
                    f"snapshot folder {folder} (snapshot_prefix '{prefix}')", owner, fix)))
            except FolderBusy:
                raise
            except OSError:
                pass  # not writable: the trainer's own check says so, when (and if) it must snapshot
        check_snapshot_names(prefix, solver_path, snapshot, root)
        for lock in claim.locks:
            claim.removed += remove_stale_temps(lock.folder)
    except BaseException:
        claim.release()
        raise
    return claim


def _busy(what: str, owner, other: str) -> str:
    stop = f", stop it (kill -INT {owner.pid}: it snapshots first)" if owner.pid else ""
    return f"{what} is in use by another trainer: {owner.describe()}. Wait for it to end{stop}, or {other}."


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


# -- snapshot names -----------------------------------------------------------------------------------
def existing_snapshots(prefix: str, root=".", after: int = -1) -> dict[int, list[str]]:
    """``{N: [extensions]}`` of the ``<prefix>_iter_N`` files that exist with N > ``after``."""
    folder, base = os.path.split(str(resolve(root, prefix)))
    pattern = re.compile(re.escape(base) + r"_iter_(\d+)(" + "|".join(re.escape(e) for e in _EXTS) + r")$")
    found: dict[int, list[str]] = {}
    try:
        entries = list(os.scandir(folder or "."))
    except OSError:
        return found
    for entry in entries:
        match = pattern.match(entry.name)
        if match and int(match.group(1)) > after:
            found.setdefault(int(match.group(1)), []).append(match.group(2))
    return {n: sorted(found[n], key=_EXTS.index) for n in sorted(found)}


def resume_iteration(snapshot: str, root=".") -> int | None:
    """The ``iter`` stored in a solverstate (field 1), read without parsing its history; None if unreadable
    (the trainer's own restore then says what is wrong with the file, before anything is written)."""
    from tunewiz.caffe.hdf5 import is_hdf5_name, read_solverstate_hdf5
    from tunewiz.caffe.wire import VARINT, Source, WireError, fields

    path = snapshot if os.path.isabs(snapshot) else resolve(root, snapshot)
    if is_hdf5_name(path):
        try:
            return read_solverstate_hdf5(path)[0]
        except TunewizError:
            return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        for record in fields(Source(fd=fd, size=os.fstat(fd).st_size), 0, os.fstat(fd).st_size):
            if record.number == 1 and record.wire_type == VARINT:
                return record.value
        return 0  # iter absent: protobuf's default
    except (WireError, OSError):
        return None
    finally:
        os.close(fd)


def check_snapshot_names(prefix: str, solver_path: str, snapshot: str | None, root=".") -> None:
    """Refuse when ``<prefix>_iter_N.*`` files of another run are where this run would write."""
    after = -1
    if snapshot:
        after = resume_iteration(snapshot, root)
        if after is None:
            return
    found = existing_snapshots(prefix, root, after)
    if not found:
        return
    names = _names(prefix, found)
    states = [(n, ext) for n, exts in found.items() for ext in exts if ext.startswith(".solverstate")]
    resume = f"resume from the latest with --snapshot {prefix}_iter_{states[-1][0]}{states[-1][1]}, " if states else ""
    if snapshot:
        head = (f"resuming from iteration {after} would write over later snapshots under snapshot_prefix "
                f"'{prefix}': {names}.")
    else:
        head = (f"snapshot_prefix '{prefix}' ({solver_path}) already holds snapshots of another run: {names}; "
                "this new run would mix its snapshots with them and replace those of the same iterations.")
        resume = resume.replace("resume from the latest", "resume that run")
    raise SnapshotsInTheWay(f"{head} Nothing was written: {resume}set another snapshot_prefix in "
                            f"{solver_path}, or delete those files.")


def _names(prefix: str, found: dict[int, list[str]]) -> str:
    """``p_iter_5.{caffemodel,solverstate}, p_iter_10.caffemodel`` (the first 3 and last 2 of many)."""
    def one(n: int) -> str:
        exts = [e[1:] for e in found[n]]
        return f"{prefix}_iter_{n}." + (exts[0] if len(exts) == 1 else "{" + ",".join(exts) + "}")

    iters = list(found)
    shown = [one(n) for n in iters] if len(iters) <= 6 else \
        [*map(one, iters[:3]), "...", *map(one, iters[-2:])]
    count = sum(len(v) for v in found.values())
    return ", ".join(shown) + (f" ({count} files)" if len(iters) > 6 else "")


# -- leftovers ----------------------------------------------------------------------------------------
def remove_stale_temps(folder: str | os.PathLike) -> list[Stale]:
    """Remove tunewiz temporaries in ``folder`` whose process no longer runs; return what was removed."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        pid = temp_owner(entry.name)
        if pid is None or pid == os.getpid() or pid_alive(pid) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            size = entry.stat(follow_symlinks=False).st_size
            os.unlink(entry.path)
        except OSError:  # gone meanwhile, or not ours to remove: leave it
            continue
        removed.append(Stale(Path(entry.path), size, pid))
    return removed


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists here and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OverflowError:
        return False  # above any pid: no such process
    except PermissionError:
        return True  # another user's live process: never remove its files
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"
