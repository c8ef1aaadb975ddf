"""Images -> LMDB/LevelDB, like Caffe's ``convert_imageset``, as a generator of progress events.

Per list line (Caffe's loop): ``ReadImageToDatum(root + path, label, resize_height, resize_width,
is_color, encoding)``; an unreadable image is skipped with a warning ("Could not open or find
file"); ``--check_size`` stops when ``len(data) != channels*height*width`` of the first record;
the key is ``%08d_<path>`` with the line index; the writer commits every 1000 records.
Decoding, resizing and encoding run in worker processes (``tunewiz.data.workers``); the one
writer (this process) receives them in list order, so the output does not depend on the number
of workers.  ``stop`` (a ``threading.Event``) ends the run between records and removes the
unfinished database.
"""
from __future__ import annotations

import os
import pickle
import shutil
import time
from dataclasses import dataclass

from tunewiz.data import datum as datum_mod
from tunewiz.data.db import DBWriter
from tunewiz.data.listfile import Entry, class_folders, read_list, shuffled, split_classes
from tunewiz.data.workers import WorkerPool, default_workers
from tunewiz.errors import TunewizError

COMMIT_EVERY = 1000
ENCODE_TYPES = ("png", "jpg", "jpeg", "bmp", "ppm", "pgm", "tif", "tiff", "webp")
PROGRESS_EVERY = 50


class ConvertError(TunewizError):
    """The conversion cannot go on (the unfinished database is removed)."""


@dataclass
class Options:
    """convert_imageset's flags (Caffe's names) plus ``seed`` and ``workers``."""

    gray: bool = False
    shuffle: bool = False
    backend: str = "lmdb"
    resize_width: int = 0
    resize_height: int = 0
    check_size: bool = False
    encoded: bool = False
    encode_type: str = ""
    seed: int = 0
    workers: int | None = None


@dataclass
class Started:
    db: str
    total: int


@dataclass
class Note:
    db: str
    message: str


@dataclass
class Skipped:
    db: str
    line: int  # 1-based line of the list (key index + 1)
    path: str
    reason: str


@dataclass
class Progress:
    db: str
    done: int
    total: int
    skipped: int
    rate: float  # images per second


@dataclass
class Finished:
    db: str
    records: int
    skipped: int
    classes: int
    seconds: float
    labels_file: str | None = None


@dataclass
class Stopped:
    db: str
    done: int


@dataclass
class _Job:
    root: str
    height: int
    width: int
    is_color: bool
    encode_type: str
    encoded: bool


def _convert_one(item):
    """Worker: (index, path, label, job) -> (index, key, value, chw, len_data) or (index, None, reason)."""
    index, path, label, job = item
    filename = os.path.join(job.root, path)
    key = f"{index:08d}_{path}".encode("utf-8")
    if not job.encoded:  # the common case, serialized by hand (same bytes as caffe_pb2, one copy)
        img = datum_mod.read_image(filename, job.height, job.width, job.is_color)
        if img is None:
            return index, None, f"Could not open or find file {filename}"
        value, n = datum_mod.raw_datum_bytes(img, label)
        return index, key, pickle.PickleBuffer(value), n, n  # sent out of band by the worker pool
    enc = job.encode_type or datum_mod.guess_encoding(path)
    try:
        d = datum_mod.image_to_datum(filename, label, job.height, job.width, job.is_color, enc)
    except ValueError as exc:
        return index, None, f"{exc} ({filename})"
    if d is None:
        return index, None, f"Could not open or find file {filename}"
    return index, key, pickle.PickleBuffer(d.SerializeToString()), d.channels * d.height * d.width, len(d.data)


def _check_new(*paths: str) -> None:
    for path in paths:
        if os.path.exists(path):
            raise ConvertError(f"{path} already exists: choose a new DB_NAME or delete it first "
                               "(an existing database is never overwritten).")


def convert_entries(root: str, entries: list[Entry], db_name: str, opts: Options, stop=None):
    """Write ``entries`` (images under ``root``) into the NEW database ``db_name``; yield events."""
    _check_new(db_name)
    if opts.encode_type and opts.encode_type.lower() not in ENCODE_TYPES:
        raise ConvertError(f"--encode_type {opts.encode_type!r} is not supported: use one of {', '.join(ENCODE_TYPES)}.")
    job = _Job(root, max(0, opts.resize_height), max(0, opts.resize_width), not opts.gray,
               opts.encode_type, opts.encoded or bool(opts.encode_type))
    if opts.encode_type and not opts.encoded:
        yield Note(db_name, "encode_type specified, assuming encoded=true.")
    if (job.height > 0) != (job.width > 0):
        yield Note(db_name, "only one of --resize_width/--resize_height is set: images are not resized "
                            "(Caffe resizes only when both are > 0).")
    total = len(entries)
    yield Started(db_name, total)
    workers = default_workers() if opts.workers is None else opts.workers
    writer = DBWriter(db_name, opts.backend)
    t0 = time.perf_counter()
    done = skipped = count = 0
    data_size = None
    labels = set()
    finished = False
    try:
        with WorkerPool(_convert_one, workers if total > 16 else 0) as pool:
            for result in pool.imap(((e.index, e.path, e.label, job) for e in entries), chunk=8):
                if stop is not None and stop.is_set():
                    break
                done += 1
                if result[1] is None:
                    skipped += 1
                    yield Skipped(db_name, result[0] + 1, entries[done - 1].path, result[2])
                else:
                    _, key, value, chw, len_data = result
                    if opts.check_size:
                        if data_size is None:
                            data_size = chw
                        elif len_data != data_size:
                            raise ConvertError(
                                f"--check_size: {entries[done - 1].path} (line {result[0] + 1}) has {len_data} "
                                f"bytes of data, the first record had {data_size} (Caffe: Incorrect data field "
                                f"size {len_data}); resize all images (--resize_width/--resize_height).")
                    writer.put(key, value.raw() if isinstance(value, pickle.PickleBuffer) else value)
                    labels.add(entries[done - 1].label)
                    count += 1
                    if count % COMMIT_EVERY == 0:
                        writer.commit()
                if done % PROGRESS_EVERY == 0 or done == total:
                    yield Progress(db_name, done, total, skipped, done / max(time.perf_counter() - t0, 1e-9))
        if done == total and count == 0:
            raise ConvertError(f"none of the {total} images could be read (see the warnings): check ROOTFOLDER "
                               f"{root!r}; the list's paths are relative to it.")
        finished = done == total
        if finished:
            writer.close()
    finally:
        if not finished:
            _discard(writer)
    if not finished:
        yield Stopped(db_name, done)
        return
    yield Finished(db_name, count, skipped, len(labels), time.perf_counter() - t0)


def _discard(writer: DBWriter) -> None:
    """Drop an unfinished database that this run created."""
    writer.abort()
    try:
        writer.close()
    finally:
        shutil.rmtree(writer.path, ignore_errors=True)


def convert_list(root: str, listfile: str, db_name: str, opts: Options | None = None, stop=None):
    """``convert_imageset ROOTFOLDER LISTFILE DB_NAME``; yields events (see module doc)."""
    opts = opts or Options()
    _check_new(db_name)
    entries = read_list(listfile)
    if opts.shuffle:
        entries = shuffled(entries, opts.seed)
    yield from convert_entries(root, entries, db_name, opts, stop)


def val_db_name(db_name: str) -> str:
    """Where the validation split goes by default: ``<DB_NAME>_val``."""
    return db_name.rstrip("/\\") + "_val"


def convert_folders(root: str, db_name: str, opts: Options | None = None, val_fraction: float = 0.0,
                    val_db: str | None = None, stop=None):
    """Class folders under ``root`` -> ``db_name`` (+ validation DB); ``labels.txt`` beside it.

    Classes sorted by name get labels 0..N-1; with ``val_fraction`` a stratified, seeded share of
    each class goes to ``val_db`` (default ``<DB_NAME>_val``).
    """
    opts = opts or Options()
    classes, files = class_folders(root)
    train, val = split_classes(classes, files, val_fraction, opts.seed)
    val_db = val_db or val_db_name(db_name)
    _check_new(db_name, *([val_db] if val else []))
    labels_file = os.path.join(os.path.dirname(os.path.abspath(db_name)), "labels.txt")
    text = "".join(f"{name}\n" for name in classes)
    if os.path.exists(labels_file):
        with open(labels_file, encoding="utf-8") as f:
            if f.read() != text:
                raise ConvertError(f"{labels_file} already exists with other classes: "
                                   "write the database into another folder or remove that file.")
    if opts.shuffle:
        train, val = shuffled(train, opts.seed), shuffled(val, opts.seed + 1) if val else val
    else:
        yield Note(db_name, "records are stored class after class; add --shuffle so that batches mix classes "
                            "(a Data layer reads the records in key order).")
    for db, entries in ((db_name, train), (val_db, val)):
        if not entries:
            continue
        for event in convert_entries(root, entries, db, opts, stop):
            if isinstance(event, Finished):
                event.classes = len(classes)
                if db == db_name:
                    with open(labels_file, "w", encoding="utf-8") as f:
                        f.write(text)
                event.labels_file = labels_file
            yield event
            if isinstance(event, Stopped):
                return
