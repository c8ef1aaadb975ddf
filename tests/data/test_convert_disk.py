"""A full disk during convert-imageset (issue 12): one line (needed, free, where), no partial database.

Simulated for both backends: the free space (``space.free_bytes``) and the libraries' own errors
(LMDB's EIO on a short write, as a full disk gives it without writemap; LevelDB's ``IO error ...
No space left on device``; ``MDB_MAP_FULL``).  A real, 2 MiB tmpfs is used too where this machine
lets a test mount one (``unshare -rm``); elsewhere that test is skipped.  Also: ``tunewiz inspect``
calls a 0-record database empty.
"""
import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from tunewiz.data import db_write, imageset, space


def _images(dh):
    return str(dh.FX / "images") + "/"


class _Proxy:
    """Delegates to ``inner`` except what is set on it."""

    def __init__(self, inner, **overrides):
        self._inner = inner
        self.__dict__.update(overrides)

    def __getattr__(self, name):
        return getattr(self._inner, name)


@pytest.fixture
def disk(monkeypatch):
    """A disk with ``free`` bytes whose writes fail with ``error`` once ``fail_after`` records were put."""
    state = {"free": 1 << 40, "fail_after": None, "error": None, "where": "commit", "puts": 0, "fills": True}
    monkeypatch.setattr(space, "free_bytes", lambda folder: state["free"])
    monkeypatch.setattr(imageset, "COMMIT_EVERY", 5)

    def maybe_fail(where):
        if state["fail_after"] is not None and state["puts"] >= state["fail_after"] and where == state["where"]:
            if state["fills"]:
                state["free"] = 0  # the disk is full now
            raise state["error"]

    def txn_for(real_txn):
        def put(key, value):
            state["puts"] += 1
            maybe_fail("put")
            return real_txn.put(key, value)

        def commit():
            try:
                maybe_fail("commit")
            except BaseException:
                real_txn.abort()  # as LMDB does when its commit fails
                raise
            return real_txn.commit()
        return _Proxy(real_txn, put=put, commit=commit)

    real_init = db_write.DBWriter.__init__

    def init(self, path, backend="lmdb"):
        real_init(self, path, backend)
        if backend == "lmdb":
            env = self._env
            self._env = _Proxy(env, begin=lambda **kw: txn_for(env.begin(**kw)))
        else:
            db = self._db

            def batch():
                real = db.write_batch()

                def put(key, value):
                    state["puts"] += 1
                    return real.put(key, value)

                def write():
                    maybe_fail("commit")
                    return real.write()
                return _Proxy(real, put=put, write=write)
            self._db = _Proxy(db, write_batch=batch)

    monkeypatch.setattr(db_write.DBWriter, "__init__", init)
    return state


def _write_error(backend, db):
    if backend == "lmdb":
        import lmdb

        return lmdb.Error("mdb_txn_commit: Input/output error")  # a short write on a full disk
    import plyvel

    return plyvel.IOError(f"IO error: {db}/000003.log: No space left on device".encode())


def test_lmdb_that_cannot_fit_is_refused_before_writing(dh, tmp_path, capsys, disk):
    (tmp_path / "keep.txt").write_text("mine")
    disk["free"] = 100 << 10
    before = dh.snapshot(tmp_path, dh.FX)
    line, _ = dh.cli_error(capsys, "convert-imageset", "--resize_width", "64", "--resize_height", "64",
                           "--workers", "0", _images(dh), dh.FX / "train.txt", tmp_path / "out" / "db")
    assert f"out/db: not enough disk space in {tmp_path}: the LMDB database of 26 images needs about " in line
    assert "only 100.0 KiB is free; nothing was written" in line and "another disk" in line
    assert dh.snapshot(tmp_path, dh.FX) == before and sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_lmdb_stops_when_the_rest_will_not_fit(dh, tmp_path, capsys, disk):
    disk["free"] = 8 << 10  # encoded: sizes unknown before the first records, so the check while writing stops it
    before = dh.snapshot(tmp_path, dh.FX)
    line, _ = dh.cli_error(capsys, "convert-imageset", "--encoded", "--workers", "0", _images(dh),
                           dh.FX / "train.txt", tmp_path / "db")
    assert "not enough disk space" in line and "8.0 KiB is free for the" in line and "still to write" in line
    assert "the unfinished database was removed" in line
    assert dh.snapshot(tmp_path, dh.FX) == before and not (tmp_path / "db").exists()


@pytest.mark.parametrize("backend", ["lmdb", "leveldb"])
def test_a_write_error_on_a_full_disk_is_one_line_and_removes_what_it_made(dh, tmp_path, capsys, disk, backend):
    (tmp_path / "keep.txt").write_text("mine")
    db = tmp_path / "new" / "deeper" / "db"
    disk.update(fail_after=12, error=_write_error(backend, db), free=3 << 20)
    before = dh.snapshot(tmp_path, dh.FX)
    line, err = dh.cli_error(capsys, "convert-imageset", "--backend", backend, "--resize_width", "32",
                             "--resize_height", "32", "--workers", "0", _images(dh), dh.FX / "train.txt", db)
    kind = {"lmdb": "LMDB", "leveldb": "LevelDB"}[backend]
    assert f"{db}: not enough disk space in {tmp_path}: the {kind} database of 26 images needs about" in line
    assert "3.0 MiB was free when it began (the write failed: " in line
    assert "the unfinished database was removed" in line
    assert "b'" not in line and "Bus error" not in err
    assert dh.snapshot(tmp_path, dh.FX) == before and sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("fills", [True, False])
def test_lmdb_map_full_is_one_line(dh, tmp_path, capsys, disk, fills):
    import lmdb

    error = lmdb.MapFullError("mdb_put: MDB_MAP_FULL: Environment mapsize limit reached")
    disk.update(fail_after=3, where="put", error=error, fills=fills)
    before = dh.snapshot(tmp_path, dh.FX)
    line, _ = dh.cli_error(capsys, "convert-imageset", "--workers", "0", _images(dh), dh.FX / "val.txt",
                           tmp_path / "db")
    if fills:  # the disk is full once the error came: that is what the user must hear
        assert "not enough disk space" in line and "(the write failed: mdb_put: MDB_MAP_FULL" in line
    else:
        assert line == (f"tunewiz: error: {tmp_path}/db: cannot write the database (mdb_put: MDB_MAP_FULL: "
                        "Environment mapsize limit reached). The unfinished database was removed.")
    assert dh.snapshot(tmp_path, dh.FX) == before and not (tmp_path / "db").exists()


def test_leveldb_that_cannot_even_be_created_is_removed(dh, tmp_path, capsys, monkeypatch):
    import plyvel

    def full_disk_db(path, **kwargs):  # LevelDB made its folder, LOCK and LOG, then MANIFEST failed
        (tmp_path / "db").mkdir()
        (tmp_path / "db" / "LOCK").write_text("")
        raise plyvel.IOError(f"IO error: {path}/MANIFEST-000001: No space left on device".encode())

    monkeypatch.setattr(plyvel, "DB", full_disk_db)
    monkeypatch.setattr(space, "free_bytes", lambda folder: 0 if (tmp_path / "db").exists() else 1 << 30)
    line, _ = dh.cli_error(capsys, "convert-imageset", "--backend", "leveldb", "--workers", "0", _images(dh),
                           dh.FX / "val.txt", tmp_path / "db")
    assert "not enough disk space" in line and "MANIFEST-000001: No space left on device" in line
    assert not (tmp_path / "db").exists()


def test_class_folders_failing_in_validation_remove_the_training_db_too(dh, tmp_path, capsys, disk):
    root = tmp_path / "classes"
    shutil.copytree(dh.FX / "images", root)
    (root / "c_stripes" / "not_an_image.jpg").unlink()
    out = tmp_path / "out"
    disk.update(fail_after=21 + 5, error=_write_error("lmdb", out / "train_val"))  # in the validation DB
    before = dh.snapshot(tmp_path, dh.FX)
    line, _ = dh.cli_error(capsys, "convert-imageset", "--val_fraction", "0.3", "--workers", "0",
                           "--resize_width", "16", "--resize_height", "16", f"{root}/", out / "train")
    assert f"{out}/train_val: not enough disk space" in line
    assert f"{out}/train and labels.txt, written before, removed too." in line
    assert dh.snapshot(tmp_path, dh.FX) == before and not out.exists()


def test_inspect_calls_an_empty_lmdb_empty(tmp_path, capsys):
    import lmdb

    from tunewiz.cli import main

    lmdb.open(str(tmp_path / "db"), map_size=1 << 20).close()
    assert main(["inspect", str(tmp_path / "db")]) == 1
    out = capsys.readouterr().out
    assert "LMDB database, EMPTY: the database is empty (0 records)" in out and "convert the images again" in out
    assert main(["inspect", "--json", str(tmp_path / "db")]) == 1
    assert json.loads(capsys.readouterr().out)[0]["records"] == 0


def test_lmdb_size_model_is_close_to_what_lmdb_writes(tmp_path):
    import lmdb

    for n, value_len in ((300, 100), (300, 784), (300, 1500), (100, 3072), (50, 12300)):
        env = lmdb.open(str(tmp_path / f"m{value_len}"), map_size=1 << 28)
        with env.begin(write=True) as txn:
            for i in range(n):
                txn.put(f"{i:08d}_a_circles/img{i:04d}.png".encode(), b"x" * value_len)
        used = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
        env.close()
        model = n * space.lmdb_record_bytes(len(f"{0:08d}_a_circles/img{0:04d}.png"), value_len) + space.FIXED
        assert 0.85 * used <= model <= 1.2 * used, (value_len, model, used)


_REAL = """
import os, subprocess, sys
from tunewiz.cli import main
from tunewiz.data import space
images, listfile, tt = sys.argv[1:4]
flags = ["--resize_width", "256", "--resize_height", "256", "--workers", "0", images, listfile]
print("precheck", main(["convert-imageset", *flags, tt + "/db"]), flush=True)
space.SpaceWatch.expect = lambda *a: None  # no check: straight into the full disk
space.SpaceWatch.check = lambda self, done, pending=0: setattr(self, "done", done)
print("lmdb", main(["convert-imageset", *flags, tt + "/db"]), flush=True)
print("leveldb", main(["convert-imageset", "--backend", "leveldb", *flags, tt + "/db"]), flush=True)
print("left", sorted(os.listdir(tt)), flush=True)
"""


def test_a_real_full_tmpfs(dh, tmp_path):
    if not shutil.which("unshare"):
        pytest.skip("no unshare: cannot mount a small tmpfs here")
    tt = tmp_path / "tt"
    tt.mkdir()
    script = textwrap.dedent(f"""
        mount -t tmpfs -o size=2m tmpfs {tt} || {{ echo NOMOUNT; exit 0; }}
        exec {sys.executable} -c '{_REAL}' {_images(dh)} {dh.FX / "train.txt"} {tt}
    """)
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    if "NOMOUNT" in proc.stdout or proc.returncode and "unshare" in proc.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()[:200]}")
    assert proc.stdout.splitlines() == ["precheck 2", "lmdb 2", "leveldb 2", "left []"], proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("tunewiz: error:")]
    assert len(errors) == 3 and all(f"{tt}/db: not enough disk space in {tt}" in e for e in errors), proc.stderr
    assert "nothing was written" in errors[0]
    assert "Input/output error" in errors[1] and "No space left on device" in errors[2]
    assert all("needs about 4." in e and "2.0 MiB was free when it began" in e for e in errors[1:])
    assert "Traceback" not in proc.stderr and "Bus error" not in proc.stderr
