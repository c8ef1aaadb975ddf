"""compute-image-mean against Caffe's mean.binaryproto and log; the CLIs; inspect DB."""
import json
import re

import pytest

from tunewiz.caffe import caffe_pb2
from tunewiz.cli import main
from tunewiz.data.inspect_db import describe_db
from tunewiz.data.mean import MeanError, channel_mean_values, compute_mean, format_g6, mean_blob


def _logged_means(log: str) -> list[str]:
    return re.findall(r"mean_value channel \[\d\]: (\S+)", log)


@pytest.mark.parametrize("db, ref, log", [
    ("raw_32x32", "mean.binaryproto", "compute_image_mean.log"),
    ("encoded_png_24x24", "encoded_png_24x24_mean.binaryproto", "encoded_png_24x24_compute_image_mean.log"),
])
def test_mean_is_caffe_binaryproto_byte_for_byte(dh, tmp_path, db, ref, log):
    mean, count, decoded = compute_mean(dh.caffe_db(tmp_path, db))
    assert count == 24 and decoded == db.startswith("encoded")
    assert mean_blob(mean).SerializeToString() == (dh.FX / ref).read_bytes()
    blob = caffe_pb2.BlobProto.FromString((dh.FX / ref).read_bytes())
    assert (blob.num, blob.channels, blob.height, blob.width, len(blob.shape.dim)) == (1, *mean.shape, 0)
    assert [format_g6(v) for v in channel_mean_values(mean)] == _logged_means((dh.FX / log).read_text())


def test_mean_of_leveldb_equals_lmdb(dh, tmp_path):
    a, _, _ = compute_mean(dh.caffe_db(tmp_path, "leveldb_32x32"), "leveldb")
    b, _, _ = compute_mean(dh.caffe_db(tmp_path, "raw_32x32"))
    assert a.tobytes() == b.tobytes()


def test_mean_refuses_mixed_sizes(dh, tmp_path):
    db, _ = dh.convert(tmp_path, "encoded_asis")
    with pytest.raises(MeanError, match=r"is 3x24x20 but the first record is 3x20x24.*--resize_width"):
        compute_mean(db)


def test_compute_image_mean_cli(dh, tmp_path, capsys):
    out = tmp_path / "mean.binaryproto"
    assert main(["compute-image-mean", dh.caffe_db(tmp_path, "encoded_png_24x24"), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Decoding Datum" in printed and "Processed 24 files." in printed and "Number of channels: 3" in printed
    assert _logged_means(printed) == ["127.526", "143.906", "121.904"]
    assert out.read_bytes() == (dh.FX / "encoded_png_24x24_mean.binaryproto").read_bytes()
    assert main(["compute-image-mean", dh.caffe_db(tmp_path, "raw_32x32"), str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_convert_imageset_cli_summary_and_refusal(dh, tmp_path, capsys):
    db = tmp_path / "db"
    argv = ["convert-imageset", "--resize_height", "32", "--resize_width", "32",
            str(dh.FX / "images") + "/", str(dh.FX / "train.txt"), str(db)]
    assert main(argv) == 0
    cap = capsys.readouterr()
    assert "24 records, 2 skipped, 3 classes" in cap.out
    assert cap.err.count("warning: line") == 2 and "line 12: Could not open or find file" in cap.err
    assert main(argv) == 2 and "already exists" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_text("a_circles/img00.png 0\na_circles/img01.jpg x\n")
    assert main(argv[:6] + [str(bad), str(tmp_path / "db2")]) == 2
    assert f"{bad}:2: the label 'x' is not an integer" in capsys.readouterr().err


def test_describe_db(dh, tmp_path):
    info = describe_db(dh.caffe_db(tmp_path, "leveldb_32x32"))
    assert info["backend"] == "leveldb" and info["records"] == 24 and info["raw"] == 24
    assert info["classes"] == {"0": 8, "1": 8, "2": 8} and info["shapes"] == {"3x32x32": 24}
    db, _ = dh.convert(tmp_path, "encoded_asis")
    info = describe_db(db)
    assert info["encoded"] == 24 and info["shapes"]["1x20x24"] == 1 and sum(info["shapes"].values()) == 24
    json.dumps(info)


def test_inspect_cli_on_a_database(dh, tmp_path, capsys):
    assert main(["inspect", dh.caffe_db(tmp_path, "raw_32x32")]) == 0
    out = capsys.readouterr().out
    assert "LMDB database, 24 records (24 raw, 0 encoded)" in out and "3x32x32 x24" in out


def test_convert_cli_accepts_gflags_style_and_checks_encode_type(dh, tmp_path, capsys):
    db = tmp_path / "gray"
    argv = ["convert-imageset", "-gray", "-resize_height=28", "--resize_width=28",
            str(dh.FX / "images") + "/", str(dh.FX / "train.txt"), str(db)]
    assert main(argv) == 0
    with __import__("tunewiz.data.db", fromlist=["DBReader"]).DBReader(str(db)) as r:
        values = [v for _, v in r]
    assert len(values) == 24
    rows = dh.records_tsv("gray_28x28")
    import hashlib
    from tunewiz.data.datum import parse_datum
    assert [hashlib.sha256(parse_datum(v).data).hexdigest() for v in values] == [r["sha256_data"] for r in rows]
    capsys.readouterr()
    assert main(["convert-imageset", "--encode_type=gif", str(dh.FX / "images") + "/",
                 str(dh.FX / "val.txt"), str(tmp_path / "gif")]) == 2
    assert "--encode_type 'gif' is not supported" in capsys.readouterr().err
    assert not (tmp_path / "gif").exists()


@pytest.mark.parametrize("gray_flag", ["--gray=true", "-gray=TRUE", "-gray=1"])
def test_convert_cli_accepts_gflags_boolean_values(dh, tmp_path, gray_flag):
    """gflags' ``--flag=true/false`` (what Caffe users type) for every boolean flag; =false keeps colour."""
    import hashlib

    from tunewiz.commands import convert, mean
    from tunewiz.commands.gflags import GflagsParser
    from tunewiz.data.datum import parse_datum
    from tunewiz.data.db import DBReader

    db = tmp_path / "gray"
    argv = ["convert-imageset", gray_flag, "--shuffle=false", "-check_size=true", "--encoded=false",
            "-resize_height=28", "--resize_width=28", str(dh.FX / "images") + "/", str(dh.FX / "train.txt"), str(db)]
    assert main(argv) == 0
    with DBReader(str(db)) as r:
        values = [v for _, v in r]
    assert [hashlib.sha256(parse_datum(v).data).hexdigest() for v in values] == \
        [r["sha256_data"] for r in dh.records_tsv("gray_28x28")]
    p = GflagsParser()
    convert.add_arguments(p)
    for flag in ("gray", "shuffle", "check_size", "encoded"):
        for text, want in ((f"--{flag}=true", True), (f"-{flag}=false", False), (f"--{flag}", True),
                           (f"-{flag}=no", False), (f"--no{flag}", False), (f"-{flag}=Yes", True)):
            assert getattr(p.parse_args([text, "R/", "L", "D"]), flag) is want, text
    p = GflagsParser()
    mean.add_arguments(p)
    assert p.parse_args(["-force=true", "-backend", "lmdb", "X"]).force is True
    assert p.parse_args(["--force=false", "X"]).force is False


def test_a_record_that_is_not_a_datum_is_one_line_naming_db_and_key(tmp_path, capsys):
    import lmdb

    db = tmp_path / "junk"
    env = lmdb.open(str(db))
    with env.begin(write=True) as txn:
        txn.put(b"00000000_x.png", b"\xff\xff\xffjunk")
    env.close()
    for argv in (["compute-image-mean", str(db)], ["inspect", str(db)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"{db}: record '00000000_x.png' is not a Caffe Datum" in err
