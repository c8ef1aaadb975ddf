"""Helpers for the data tests: Caffe's fixtures (tests/fixtures/data) and conversions of them."""
import csv
import shutil
from pathlib import Path

import pytest

FX = Path(__file__).parent.parent / "fixtures" / "data"

# mode -> (convert_imageset options as tunewiz.data.imageset.Options kwargs, list file)
MODES = {
    "raw_32x32": (dict(resize_height=32, resize_width=32), "train.txt"),
    "gray_28x28": (dict(gray=True, resize_height=28, resize_width=28), "train.txt"),
    "encoded_asis": (dict(encoded=True), "train.txt"),
    "encoded_png_24x24": (dict(encode_type="png", resize_height=24, resize_width=24), "train.txt"),
    "leveldb_32x32": (dict(backend="leveldb", resize_height=32, resize_width=32), "train.txt"),
    "val_raw_32x32": (dict(resize_height=32, resize_width=32), "val.txt"),
}


def records_tsv(mode: str) -> list[dict]:
    with open(FX / "records" / f"{mode}.tsv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def caffe_db(tmp_path: Path, name: str) -> str:
    """A writable copy of one of Caffe's databases (LevelDB needs to write its LOCK file)."""
    dst = tmp_path / f"caffe_{name}"
    shutil.copytree(FX / "caffe_db" / name, dst)
    return str(dst)


def convert(tmp_path: Path, mode: str, workers: int = 0, **extra) -> tuple[str, list]:
    """Our conversion of a Caffe mode; returns the DB path and the events."""
    from tunewiz.data.imageset import Options, convert_list

    kwargs, listfile = MODES[mode]
    db = str(tmp_path / f"ours_{mode}_{workers}")
    events = list(convert_list(str(FX / "images") + "/", str(FX / listfile), db,
                               Options(workers=workers, **{**kwargs, **extra})))
    return db, events


def snapshot(*roots) -> dict:
    """sha256 of every regular file under ``roots``: what a refused command must leave unchanged."""
    import hashlib

    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for root in roots for p in sorted(Path(root).rglob("*")) if p.is_file()}


def cli_error(capsys, *argv) -> tuple[str, str]:
    """Run ``tunewiz *argv``, which must fail with one ``tunewiz: error:`` line and no traceback.

    Returns that line and the whole stderr (warnings before it).
    """
    from tunewiz.cli import main

    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert rc != 0, (out, err)
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if line.startswith("tunewiz: error:")]
    assert len(errors) == 1, err
    return errors[0], err


@pytest.fixture
def fx() -> Path:
    return FX


@pytest.fixture
def dh():
    """The helpers above, as one object (test modules cannot import conftest in importlib mode)."""
    import types

    return types.SimpleNamespace(FX=FX, MODES=MODES, records_tsv=records_tsv, caffe_db=caffe_db, convert=convert,
                                 snapshot=snapshot, cli_error=cli_error)
