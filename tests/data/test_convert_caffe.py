"""Our convert-imageset against the databases real Caffe's convert_imageset wrote (every mode)."""
import hashlib

import numpy as np
import pytest

from tunewiz.data.datum import decode_bytes, parse_datum
from tunewiz.data.db import DBReader
from tunewiz.data.imageset import Finished, Skipped


def _records(path):
    with DBReader(path) as reader:
        return list(reader)


MODES = ["encoded_asis", "encoded_png_24x24", "gray_28x28", "leveldb_32x32", "raw_32x32", "val_raw_32x32"]


@pytest.mark.parametrize("mode", MODES)
def test_records_match_caffe_records_tsv(dh, tmp_path, mode):
    db, events = dh.convert(tmp_path, mode)
    expected = dh.records_tsv(mode)
    ours = _records(db)
    assert [k.decode() for k, _ in ours] == [r["key"] for r in expected]
    for (key, value), row in zip(ours, expected):
        d = parse_datum(value)
        got = [d.label, d.channels, d.height, d.width, int(d.encoded), len(d.data), len(d.float_data)]
        want = [int(row[c]) for c in ("label", "channels", "height", "width", "encoded", "len_data", "float_data_len")]
        assert got == want, key
        if mode != "encoded_png_24x24":  # PNG bytes depend on zlib: compared decoded below
            assert hashlib.sha256(d.data).hexdigest() == row["sha256_data"], key
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.records == len(expected)


@pytest.mark.parametrize("mode", ["raw_32x32", "encoded_png_24x24", "leveldb_32x32"])
def test_database_values_byte_identical(dh, tmp_path, mode):
    """Whole serialized Datum values (not only pixels) equal Caffe's, the LevelDB read back too."""
    db, _ = dh.convert(tmp_path, mode)
    assert _records(db) == _records(dh.caffe_db(tmp_path, mode))


def test_encoded_png_decodes_to_caffe_pixels(dh, tmp_path):
    db, _ = dh.convert(tmp_path, "encoded_png_24x24")
    for (k1, ours), (k2, theirs) in zip(_records(db), _records(dh.caffe_db(tmp_path, "encoded_png_24x24"))):
        a = decode_bytes(parse_datum(ours).data)
        b = decode_bytes(parse_datum(theirs).data)
        assert k1 == k2 and a.shape == (3, 24, 24) and np.array_equal(a, b)


def test_encoded_asis_stores_file_bytes(dh, tmp_path):
    db, _ = dh.convert(tmp_path, "encoded_asis")
    for key, value in _records(db):
        path = key.decode()[9:]
        assert parse_datum(value).data == (dh.FX / "images" / path).read_bytes(), path


def test_unreadable_images_skipped_with_warning_and_gaps(dh, tmp_path):
    db, events = dh.convert(tmp_path, "raw_32x32")
    skipped = [e for e in events if isinstance(e, Skipped)]
    assert [(e.line, e.path) for e in skipped] == [(6, "c_stripes/not_an_image.jpg"),
                                                   (12, "a_circles/missing_file.png")]
    assert skipped[0].reason.startswith("cannot decode") and "not an image OpenCV reads" in skipped[0].reason
    assert skipped[1].reason.startswith("Could not open or find file")  # Caffe's words for a missing file
    assert events[-1].skipped == 2 and events[-1].records == 24 and events[-1].classes == 3
    keys = [k.decode()[:8] for k, _ in _records(db)]
    assert "00000005" not in keys and "00000011" not in keys and "00000017" in keys


def test_workers_give_the_same_database(dh, tmp_path):
    inline, _ = dh.convert(tmp_path, "raw_32x32", workers=0)
    parallel, _ = dh.convert(tmp_path, "raw_32x32", workers=2)
    assert _records(inline) == _records(parallel)


def test_conversion_in_a_thread_starts_workers_without_forking_this_process(dh, tmp_path):
    """The wizard converts in a worker thread: workers come from the fork server, not os.fork() here."""
    import os
    import threading

    from tunewiz.data.workers import WorkerPool, start_context

    assert start_context().get_start_method() == "forkserver"
    inline, _ = dh.convert(tmp_path, "raw_32x32", workers=0)
    idle = threading.Event()
    busy = threading.Thread(target=idle.wait)  # another thread alive, as in the wizard
    busy.start()
    out = {}
    try:
        worker = threading.Thread(target=lambda: out.update(db=dh.convert(tmp_path, "raw_32x32", workers=2)[0]))
        worker.start()
        worker.join(60)
        with WorkerPool(abs, 2) as pool:
            parents = {int(open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()[1]) for p in pool._procs}
            assert list(pool.imap([-1, -2, 3], chunk=1)) == [1, 2, 3]
    finally:
        idle.set()
        busy.join()
    assert _records(out["db"]) == _records(inline)
    assert os.getpid() not in parents


def test_check_size_stops_like_caffe_and_leaves_nothing(dh, tmp_path):
    from tunewiz.data.imageset import ConvertError

    log = (dh.FX / "check_size_fail.log").read_text()
    assert "(3072 vs. 1440)" in log
    with pytest.raises(ConvertError, match=r"has 3072 bytes of data, the first record had 1440"):
        dh.convert(tmp_path, "encoded_asis", encoded=False, check_size=True)
    assert not any(p.name.startswith("ours_") for p in tmp_path.iterdir())


@pytest.mark.parametrize("shape, label", [((5, 7, 3), 2), ((4, 6), -1), ((300, 200, 3), 1 << 20)])
def test_hand_serialized_raw_datum_equals_protobuf(shape, label):
    from tunewiz.data.datum import raw_datum, raw_datum_bytes

    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    value, n = raw_datum_bytes(img, label)
    assert value == raw_datum(img, label).SerializeToString() and n == img.size


def test_a_script_from_stdin_gets_forked_workers(monkeypatch):
    """forkserver/spawn children re-import ``__main__``; a script read from stdin has no file to import."""
    import sys
    import types

    from tunewiz.data.workers import start_context

    monkeypatch.delenv("TUNEWIZ_START_METHOD", raising=False)
    stdin_main = types.ModuleType("__main__")
    stdin_main.__file__, stdin_main.__spec__ = "<stdin>", None
    monkeypatch.setitem(sys.modules, "__main__", stdin_main)
    assert start_context().get_start_method() == "fork"
    stdin_main.__file__ = __file__
    assert start_context().get_start_method() == "forkserver"
