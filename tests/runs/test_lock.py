"""One owner per folder: a second locker is refused with the owner's pid and command; a killed owner
leaves the folder free; a finished one leaves no lock file."""
import os
import subprocess
import sys

import pytest

from tunewiz.runs.layout import LOCK
from tunewiz.runs.lock import FolderBusy, folder_owner, lock_folder


def _busy(owner):
    return f"busy: {owner.describe()}"


def test_second_lock_is_refused_with_the_owner_then_free_after_release(tmp_path):
    lock = lock_folder(tmp_path, _busy)
    owner = folder_owner(tmp_path)
    assert owner.pid == os.getpid() and owner.command and owner.cwd == os.getcwd()
    with pytest.raises(FolderBusy) as info:  # flock is per open file: this process counts as another owner
        lock_folder(tmp_path, _busy)
    assert str(info.value).startswith(f"busy: pid {os.getpid()} (since ")
    lock.release()
    assert not (tmp_path / LOCK).exists() and folder_owner(tmp_path) is None
    with lock_folder(tmp_path, _busy):
        assert folder_owner(tmp_path).pid == os.getpid()
    assert folder_owner(tmp_path) is None


def test_a_killed_owner_leaves_the_folder_free(tmp_path):
    code = ("import sys, time; from tunewiz.runs.lock import lock_folder; "
            "lock_folder(sys.argv[1], str); print('locked', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(FolderBusy) as info:
            lock_folder(tmp_path, _busy)
        assert f"pid {proc.pid} " in str(info.value) and "lock_folder" in str(info.value)
        assert folder_owner(tmp_path).pid == proc.pid
    finally:
        proc.kill()
        proc.wait()
    assert (tmp_path / LOCK).exists()  # kill -9: the file stays, its lock is gone with the process
    assert folder_owner(tmp_path) is None
    with lock_folder(tmp_path, _busy):
        assert folder_owner(tmp_path).pid == os.getpid()
