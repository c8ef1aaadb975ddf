"""Images -> LMDB/LevelDB, like Caffe's ``convert_imageset``, as a generator of progress events.

Per list line (Caffe's loop): ``ReadImageToDatum(root + path, label, resize_height, resize_width,
is_color, encoding)``; an unreadable image is skipped with a warning ("Could not open or find
file" when it is not there, as Caffe says; "cannot decode" when OpenCV cannot read it);
``--check_size`` stops when ``len(data) != channels*height*width`` of the first record; the key
is ``%08d_<path>`` with the line index; the writer commits every 1000 records.
Decoding, resizing and encoding run in worker processes (``tunewiz.data.workers``); the one
writer (this process) receives them in list order, so the output does not depend on the number
of workers.  ``stop`` (a ``threading.Event``) ends the run between records and removes the
unfinished database.  Disk space is checked before and while writing (``tunewiz.data.space``); a
full disk, like any write error, ends the run with one line and removes what the run created.
"""
from __future__ import annotations

import os
import pickle
import shutil
import time
from dataclasses import dataclass

from tunewiz.data import datum as datum_mod
from tunewiz.data.db_write import DBWriter, DBWriteError, error_text, first_missing, remove_made_folders
from tunewiz.data.imageset_events import Finished, Note, Skipped, Started, Stopped  # noqa: F401
from tunewiz.data.listfile import Entry, class_folders, read_list, shuffled, split_classes
from tunewiz.data.space import DiskFullError, SpaceWatch, existing_folder, is_disk_full, raw_value_len
from tunewiz.data.workers import WorkerPool, default_workers
from tunewiz.errors import TunewizError
from tunewiz.runs.events import Progress
from tunewiz.runs import layout

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
            return index, None, _unreadable(filename)
        value, n = datum_mod.raw_datum_bytes(img, label)
        return index, key, pickle.PickleBuffer(value), n, n  # sent out of band by the worker pool
    enc = job.encode_type or datum_mod.guess_encoding(path)
    try:
        d = datum_mod.image_to_datum(filename, label, job.height, job.width, job.is_color, enc)
    except ValueError as exc:
        return index, None, f"{exc} ({filename})"
    if d is None:
        return index, None, _unreadable(filename)
    return index, key, pickle.PickleBuffer(d.SerializeToString()), d.channels * d.height * d.width, len(d.data)


def _unreadable(filename: str) -> str:
    """Why an image gave nothing: Caffe's words when it is not there, the cause when it is."""
    if not os.path.exists(filename):
        return f"Could not open or find file {filename}"
    if os.path.isdir(filename):
        return f"{filename} is a folder, not an image"
    if not os.access(filename, os.R_OK):
        return f"cannot read {filename} (permission denied)"
    return f"cannot decode {filename} (not an image OpenCV reads)"


def _check_new(*paths: str) -> None:
    for path in paths:
        if os.path.exists(path):
            raise ConvertError(f"{path} already exists: choose a new DB_NAME or delete it first "
                               "(an existing database is never overwritten).")


def convert_entries(root: str, entries: list[Entry], db_name: str, opts: Options, stop=None,
                    folders: bool = False):
    """Write ``entries`` (images under ``root``) into the NEW database ``db_name``; yield events.

    ``folders``: the entries are class folders' files (the messages then speak of those, not of a list).
    """
    _check_new(db_name)
    for flag, size in (("--resize_width", opts.resize_width), ("--resize_height", opts.resize_height)):
        if size < 0:
            raise ConvertError(f"{flag} {size}: image sizes must be >= 0 (0 keeps each image's size; "
                               "set both --resize_width and --resize_height to resize).")
    if opts.encode_type and opts.encode_type.lower() not in ENCODE_TYPES:
        raise ConvertError(f"--encode_type {opts.encode_type!r} is not supported: use one of {', '.join(ENCODE_TYPES)}.")
    job = _Job(root, opts.resize_height, opts.resize_width, not opts.gray,
               opts.encode_type, opts.encoded or bool(opts.encode_type))
    if opts.encode_type and not opts.encoded:
        yield Note(db_name, "encode_type specified, assuming encoded=true.")
    if (job.height > 0) != (job.width > 0):
        yield Note(db_name, "only one of --resize_width/--resize_height is set: images are not resized "
                            "(Caffe resizes only when both are > 0).")
    total = len(entries)
    watch = SpaceWatch(db_name, opts.backend, total)
    _expect_space(watch, entries, opts)
    yield Started(db_name, total)
    workers = default_workers() if opts.workers is None else opts.workers
    try:
        writer = DBWriter(db_name, opts.backend)
    except DBWriteError as exc:  # it removed what it had made
        raise _write_failed(exc, watch, 0) from None
    t0 = time.perf_counter()
    done = skipped = count = missing = 0
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
                    missing += result[2].startswith("Could not open or find")
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
                    value = value.raw() if isinstance(value, pickle.PickleBuffer) else value
                    writer.put(key, value)
                    watch.add(len(key), memoryview(value).nbytes)
                    labels.add(entries[done - 1].label)
                    count += 1
                    if count % COMMIT_EVERY == 0:
                        writer.commit()
                watch.check(done, writer.pending)
                if done % PROGRESS_EVERY == 0 or done == total:
                    yield Progress(db_name, done, total, skipped, done / max(time.perf_counter() - t0, 1e-9))
        if done == total and count == 0:
            raise ConvertError(_none_read(total, root, missing, folders))
        if done == total:
            writer.close()
            finished = True
    except DBWriteError as exc:
        raise _write_failed(exc, watch, writer.pending) from None
    finally:
        if not finished:
            writer.discard()
    if not finished:
        yield Stopped(db_name, done)
        return
    yield Finished(db_name, count, skipped, len(labels), time.perf_counter() - t0)


def _expect_space(watch: SpaceWatch, entries: list[Entry], opts: Options) -> None:
    """Refuse before writing when every record's size is known (raw, both resize sizes) and they cannot fit."""
    if opts.encoded or opts.encode_type or opts.resize_height <= 0 or opts.resize_width <= 0 or not entries:
        return
    key_len = 9 + sum(len(e.path.encode("utf-8")) for e in entries) // len(entries)  # "%08d_" + path
    watch.expect(key_len, raw_value_len(1 if opts.gray else 3, opts.resize_height, opts.resize_width))


def _write_failed(exc: DBWriteError, watch: SpaceWatch, pending: int) -> TunewizError:
    """A write error as one line: the disk-space line when the disk is full, else the error itself."""
    if is_disk_full(exc.cause, watch.folder, pending):
        return watch.full(error_text(exc.cause))
    return ConvertError(f"{exc} The unfinished database was removed.")


def _none_read(total: int, root: str, missing: int, folders: bool) -> str:
    """Why a conversion read nothing: the images are not where ROOTFOLDER says, or not images at all."""
    if folders:
        return (f"none of the {total} images in the class folders of {root} could be read (see the warnings): "
                "convert them to a format OpenCV reads (JPEG, PNG, ...) or remove them.")
    if missing:
        return (f"none of the {total} images could be read (see the warnings): check ROOTFOLDER {root!r}; "
                "the list's paths are relative to it.")
    return (f"none of the {total} images could be read (see the warnings): the files are there but are not "
            "images OpenCV reads; convert them (JPEG, PNG, ...) or fix the list.")


def convert_list(root: str, listfile: str, db_name: str, opts: Options | None = None, stop=None):
    """``convert_imageset ROOTFOLDER LISTFILE DB_NAME``; yields events (see module doc)."""
    opts = opts or Options()
    _check_new(db_name)
    entries = read_list(listfile)
    if root and not os.path.isdir(root) and any(not os.path.isabs(e.path) for e in entries):
        what = "is a file, not a folder" if os.path.exists(root) else "does not exist"
        raise ConvertError(f"ROOTFOLDER {root} {what}: give the folder that the paths in {listfile} are "
                           "relative to.")  # one line, not a warning per image
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
    labels_file = os.path.join(os.path.dirname(os.path.abspath(db_name)), layout.LABELS)
    text = "".join(f"{name}\n" for name in classes)
    if os.path.exists(labels_file):
        with open(labels_file, encoding="utf-8") as f:
            if f.read() != text:
                raise ConvertError(f"{labels_file} already exists with other classes: "
                                   "write the database into another folder or remove that file.")
    if val and os.stat(existing_folder(val_db)).st_dev == os.stat(existing_folder(db_name)).st_dev:
        both = SpaceWatch(db_name, opts.backend, len(train) + len(val), dbs=2)
        both.db = f"{db_name} + {val_db}"
        _expect_space(both, train + val, opts)
    top = first_missing(db_name)  # the folders the training database will make, removed on failure
    if opts.shuffle:
        train, val = shuffled(train, opts.seed), shuffled(val, opts.seed + 1) if val else val
    else:
        yield Note(db_name, "records are stored class after class; add --shuffle so that batches mix classes "
                            "(a Data layer reads the records in key order).")
    made: list[str] = []  # what this run wrote; a later failure removes it, so a retry finds nothing
    try:
        for db, entries in ((db_name, train), (val_db, val)):
            if not entries:
                continue
            for event in convert_entries(root, entries, db, opts, stop, folders=True):
                if isinstance(event, Finished):
                    made.append(db)
                    event.classes = len(classes)
                    if db == db_name and not os.path.exists(labels_file):
                        made.append(labels_file)
                        with open(labels_file, "w", encoding="utf-8") as f:
                            f.write(text)
                    event.labels_file = labels_file
                yield event
                if isinstance(event, Stopped):
                    return
    except (TunewizError, OSError) as exc:
        for path in made:
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.remove(path)
        remove_made_folders(os.path.dirname(os.path.abspath(db_name)), top)
        if isinstance(exc, OSError):  # labels.txt (a full disk, most likely)
            raise ConvertError(f"{labels_file}: cannot write it ({exc.strerror or exc}); the databases of "
                               "this run were removed.") from None
        if not made:
            raise
        also = f" {db_name}{' and labels.txt' if labels_file in made else ''}, written before, removed too."
        raise (DiskFullError if isinstance(exc, DiskFullError) else ConvertError)(f"{exc}{also}") from None
