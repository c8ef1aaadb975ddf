"""convert-imageset inputs beyond the happy path: bad lists, existing DBs, class folders, stop, map growth."""
import shutil
import sys
import threading

import pytest

from tunewiz.data import db_write
from tunewiz.data import imageset
from tunewiz.data.db import DBReader
from tunewiz.data.datum import parse_datum
from tunewiz.data.imageset import Finished, Options, Stopped, convert_folders, convert_list
from tunewiz.errors import TunewizError


def _run(gen):
    return list(gen)


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def _images(dh):
    return str(dh.FX / "images") + "/"


@pytest.mark.parametrize("text, where, what", [
    ("a_circles/img00.png 0\na_circles/img01.jpg zero\n", ":2:", "not an integer"),
    ("a_circles/img00.png 0\na_circles/img01.jpg\n", ":2:", "expected 'path label'"),
    ("a_circles/img00.png 0\nb_squares/img 03 space.png 1.5\n", ":2:", "not an integer"),
])
def test_bad_list_line_names_file_and_line(dh, tmp_path, text, where, what):
    listfile = _write(tmp_path / "list.txt", text)
    with pytest.raises(TunewizError, match=what) as info:
        _run(convert_list(_images(dh), listfile, str(tmp_path / "db")))
    assert f"list.txt{where}" in str(info.value)
    assert not (tmp_path / "db").exists()


def test_empty_and_missing_list(dh, tmp_path):
    with pytest.raises(TunewizError, match="the list is empty"):
        _run(convert_list(_images(dh), _write(tmp_path / "l.txt", "\n\n"), str(tmp_path / "db")))
    with pytest.raises(TunewizError, match="list file not found"):
        _run(convert_list(_images(dh), str(tmp_path / "nope.txt"), str(tmp_path / "db")))


def test_space_in_path_split_at_last_space(dh, tmp_path):
    listfile = _write(tmp_path / "l.txt", "b_squares/img 03 space.png 1\r\n")
    events = _run(convert_list(_images(dh), listfile, str(tmp_path / "db")))
    with DBReader(str(tmp_path / "db")) as r:
        (key, value), = list(r)
    assert key == b"00000000_b_squares/img 03 space.png" and parse_datum(value).label == 1
    assert events[-1].records == 1


@pytest.mark.parametrize("backend", ["lmdb", "leveldb"])
def test_existing_db_is_never_overwritten(dh, tmp_path, backend):
    target = tmp_path / "db"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(TunewizError, match="already exists"):
        _run(convert_list(_images(dh), str(dh.FX / "val.txt"), str(target), Options(backend=backend)))
    assert (target / "keep.txt").read_text() == "mine" and len(list(target.iterdir())) == 1


def test_class_folders_labels_and_stratified_seeded_split(dh, tmp_path):
    root = tmp_path / "classes"
    shutil.copytree(dh.FX / "images", root)
    (root / "c_stripes" / "not_an_image.jpg").unlink()
    opts = Options(resize_height=16, resize_width=16, seed=3)
    events = _run(convert_folders(str(root), str(tmp_path / "out" / "train"), opts, val_fraction=0.3))
    finished = [e for e in events if isinstance(e, Finished)]
    assert [(f.records, f.classes) for f in finished] == [(21, 3), (9, 3)]
    assert (tmp_path / "out" / "labels.txt").read_text() == "a_circles\nb_squares\nc_stripes\n"
    labels = {}
    for name in ("train", "train_val"):
        with DBReader(str(tmp_path / "out" / name)) as r:
            labels[name] = [parse_datum(v).label for _, v in r]
            keys = [k.decode() for k, _ in r]
        assert all(k[9:].split("/")[0] == ["a_circles", "b_squares", "c_stripes"][lab]
                   for k, lab in zip(keys, labels[name]))
    assert sorted(labels["train_val"]) == [0, 0, 0, 1, 1, 1, 2, 2, 2]  # round(0.3 * 10) of each class
    again = _run(convert_folders(str(root), str(tmp_path / "again" / "train"), opts, val_fraction=0.3))
    with DBReader(str(tmp_path / "out" / "train_val")) as a, DBReader(str(tmp_path / "again" / "train_val")) as b:
        assert list(a) == list(b)
    assert again[-1].records == 9


def test_class_folder_errors(dh, tmp_path):
    root = tmp_path / "c"
    (root / "only").mkdir(parents=True)
    shutil.copy(dh.FX / "images" / "a_circles" / "img00.png", root / "only")
    with pytest.raises(TunewizError, match="at least two"):
        _run(convert_folders(str(root), str(tmp_path / "db")))
    (root / "empty").mkdir()
    with pytest.raises(TunewizError, match="class folder without images"):
        _run(convert_folders(str(root), str(tmp_path / "db")))


def test_labels_file_with_other_classes_is_kept(dh, tmp_path):
    (tmp_path / "labels.txt").write_text("cats\ndogs\n")
    with pytest.raises(TunewizError, match="labels.txt already exists"):
        _run(convert_folders(_images(dh), str(tmp_path / "db")))
    assert (tmp_path / "labels.txt").read_text() == "cats\ndogs\n" and not (tmp_path / "db").exists()


def test_stop_event_ends_and_removes_the_unfinished_db(dh, tmp_path):
    stop = threading.Event()
    events = []
    for ev in convert_list(_images(dh), str(dh.FX / "train.txt"), str(tmp_path / "db"), stop=stop):
        events.append(ev)
        if isinstance(ev, imageset.Started):
            stop.set()
    assert isinstance(events[-1], Stopped) and not (tmp_path / "db").exists()


@pytest.mark.parametrize("commit_every", [5, 1000])
def test_lmdb_map_grows_when_full(dh, tmp_path, monkeypatch, commit_every):
    import lmdb

    monkeypatch.setattr(db_write, "_INITIAL_MAP", 64 * 1024)
    monkeypatch.setattr(imageset, "COMMIT_EVERY", commit_every)
    db, events = dh.convert(tmp_path, "raw_32x32", resize_height=64, resize_width=64)
    assert events[-1].records == 24
    with DBReader(db) as r:
        assert len(r) == 24 and all(len(parse_datum(v).data) == 3 * 64 * 64 for _, v in r)
    env = lmdb.open(db, readonly=True, lock=False)
    assert env.info()["map_size"] > 64 * 1024
    used = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
    env.close()
    assert (tmp_path / db / "data.mdb").stat().st_size == used  # no sparse tail left by writemap


def test_leveldb_without_plyvel_says_how_to_install(dh, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "plyvel", None)
    with pytest.raises(TunewizError, match=r"pip install 'tunewiz\[leveldb\]'"):
        _run(convert_list(_images(dh), str(dh.FX / "val.txt"), str(tmp_path / "db"), Options(backend="leveldb")))
    assert not (tmp_path / "db").exists()


def test_wrong_root_folder_reads_nothing_and_says_so(dh, tmp_path):
    with pytest.raises(TunewizError, match="none of the 6 images could be read"):
        _run(convert_list(str(tmp_path) + "/", str(dh.FX / "val.txt"), str(tmp_path / "db")))
    assert not (tmp_path / "db").exists()


def test_cli_error_after_the_progress_bar_is_one_line_of_its_own(dh, tmp_path, capsys):
    from tunewiz.cli import main

    assert main(["convert-imageset", str(tmp_path) + "/", str(dh.FX / "val.txt"), str(tmp_path / "db")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-2].startswith("[") and err[-2].endswith("skipped 6")
    assert err[-1].startswith("tunewiz: error: none of the 6 images could be read")
    assert sum("Could not open or find file" in line for line in err) == 6 and "Traceback" not in "".join(err)
    assert not (tmp_path / "db").exists()


def test_one_writer_commits_every_commit_every_records(dh, tmp_path, monkeypatch):
    puts, commits = [], []
    monkeypatch.setattr(imageset, "COMMIT_EVERY", 5)
    real_put, real_commit = db_write.DBWriter.put, db_write.DBWriter.commit
    monkeypatch.setattr(db_write.DBWriter, "put", lambda self, k, v: (puts.append(k), real_put(self, k, v)))
    monkeypatch.setattr(db_write.DBWriter, "commit", lambda self: (commits.append(len(puts)), real_commit(self)))
    db, events = dh.convert(tmp_path, "raw_32x32", workers=2)
    assert events[-1].records == 24 and commits == [5, 10, 15, 20, 24]  # the last one at close
    with DBReader(db) as r:
        assert len(r) == 24


def test_worker_pool_streams_with_a_bounded_window():
    """Flat memory: the pool pulls at most ``depth`` chunks per worker ahead of what it has yielded."""
    from tunewiz.data.workers import WorkerPool

    pulled = []

    def items():
        for i in range(400):
            pulled.append(i)
            yield -i

    with WorkerPool(abs, 2) as pool:
        for n, value in enumerate(pool.imap(items(), chunk=4, depth=2)):
            assert value == n
            assert len(pulled) - n <= 4 * (2 * 2 + 1)
    assert len(pulled) == 400


def test_a_dead_worker_is_one_clear_error():
    from tunewiz.data.workers import WorkerDied, WorkerPool

    with WorkerPool(abs, 1) as pool:
        assert pool.submit([-1]).get() == [1]
        pool._procs[0].kill()
        pool._procs[0].join()
        with pytest.raises(WorkerDied, match="worker process ended unexpectedly"):
            pool.submit([-2]).get()
