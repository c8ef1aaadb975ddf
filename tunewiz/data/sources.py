"""Where a feed's records come from, in Caffe's order, with a resumable position.

* ``DBSource`` (Data layer): the database's cursor from the first key, in key order; at the end
  it restarts from the first ("Restarting data prefetching from start.").
* ``ListSource`` (ImageData layer): the list's lines in order (``lines_id_``); with ``shuffle`` the
  lines are shuffled at setup and again at every restart, with Caffe's ``shuffle`` (Fisher-Yates,
  ``boost::uniform_int(0, i)`` over an mt19937).
Items are ``(record_name, payload)``; ``snapshot()`` is a cheap position, ``jsonable(snapshot)``
its JSON form, ``restore(json)`` goes back to it (``state()`` = ``jsonable(snapshot())``); ``len()`` is the
number of records in one pass.
"""
from __future__ import annotations

import numpy as np

from tunewiz.data.db import DBReader
from tunewiz.data.transform import set_rng_state


class DBSource:
    """A database walked like Caffe's DataLayer cursor."""

    def __init__(self, path: str, backend: str | None):
        self.reader = DBReader(path, backend)
        self.cursor = self.reader.cursor()
        if not self.cursor.valid:
            self.reader.close()
            from tunewiz.data.db import DBError

            raise DBError(f"{path}: the database is empty.")
        self.wraps = 0

    def __len__(self) -> int:
        """The records in the database: one pass of the set (the validation set's size)."""
        return len(self.reader)

    def next(self) -> tuple[bytes, bytes]:
        key, value = self.cursor.key, self.cursor.value
        self.cursor.next()
        if not self.cursor.valid:
            self.wraps += 1
            self.cursor.seek_to_first()
        return key, value

    def snapshot(self):
        return self.cursor.key, self.wraps

    @staticmethod
    def jsonable(snapshot) -> dict:
        return {"key": snapshot[0].hex(), "wraps": snapshot[1]}

    def state(self) -> dict:
        return self.jsonable(self.snapshot())

    def restore(self, state: dict) -> None:
        self.cursor.seek(bytes.fromhex(state["key"]))
        if not self.cursor.valid:
            self.cursor.seek_to_first()
        self.wraps = int(state.get("wraps", 0))

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None


def uniform_int(bitgen: np.random.MT19937, low: int, high: int) -> int:
    """``boost::uniform_int<>(low, high)(mt19937)`` for ranges below 2**32 (bucket rejection)."""
    brange, rng = 0xFFFFFFFF, high - low
    if rng == 0:
        return low
    bucket = brange // (rng + 1)
    if brange % (rng + 1) == rng:
        bucket += 1
    while True:
        result = int(bitgen.random_raw()) // bucket
        if result <= rng:
            return low + result


def caffe_shuffle(items: list, bitgen: np.random.MT19937) -> None:
    """Caffe's ``shuffle``: for i = n-1 .. 1: swap(items[i], items[uniform_int(0, i)])."""
    for i in range(len(items) - 1, 0, -1):
        j = uniform_int(bitgen, 0, i)
        items[i], items[j] = items[j], items[i]


class ListSource:
    """An image list walked like Caffe's ImageDataLayer (``lines_id_``, reshuffle at restart)."""

    def __init__(self, lines: list[tuple[str, int]], shuffle_rng: np.random.MT19937 | None, skip: int = 0):
        self.lines = list(lines)
        self.rng = shuffle_rng
        if self.rng is not None:
            caffe_shuffle(self.lines, self.rng)
        self.pos = skip
        self.wraps = 0

    def __len__(self) -> int:
        """The lines of the list: one pass of the set."""
        return len(self.lines)

    def next(self) -> tuple[str, tuple[str, int]]:
        path, label = self.lines[self.pos]
        self.pos += 1
        if self.pos >= len(self.lines):
            self.pos = 0
            self.wraps += 1
            if self.rng is not None:  # a new list: snapshots keep the old order
                self.lines = list(self.lines)
                caffe_shuffle(self.lines, self.rng)
        return path, (path, label)

    def snapshot(self):
        rng = None if self.rng is None else {"key": self.rng.state["state"]["key"].copy(),
                                             "pos": self.rng.state["state"]["pos"]}
        return self.pos, self.wraps, self.lines, rng

    @staticmethod
    def jsonable(snapshot) -> dict:
        pos, wraps, lines, rng = snapshot
        state = {"pos": pos, "wraps": wraps}
        if rng is not None:
            state["order"] = [f"{p}\t{lab}" for p, lab in lines]
            state["shuffle_rng"] = {"key": [int(k) for k in rng["key"]], "pos": int(rng["pos"])}
        return state

    def state(self) -> dict:
        return self.jsonable(self.snapshot())

    def restore(self, state: dict) -> None:
        self.pos, self.wraps = int(state["pos"]), int(state.get("wraps", 0))
        if self.rng is not None and "order" in state:
            self.lines = [(p, int(lab)) for p, lab in (s.rsplit("\t", 1) for s in state["order"])]
            set_rng_state(self.rng, state["shuffle_rng"])

    def close(self) -> None:
        pass
