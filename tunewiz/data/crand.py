"""The C library's ``rand()`` and ``std::random_shuffle``, as Caffe's HDF5Data layer draws them.

Caffe's HDF5DataLayer shuffles with ``std::random_shuffle(first, last)``, which draws from the C
library's ``rand()``, not from Caffe's RNG: ``random_seed`` does not change it and Caffe never calls
``srand``, so a Caffe process starts from glibc's default state, ``srand(1)``.

* :class:`CRand` is glibc's ``rand()`` (the TYPE_3 additive feedback generator of ``random_r``):
  ``r[0] = seed``, ``r[i] = 16807 * r[i-1] mod (2**31 - 1)`` for ``i < 31``, ``r[i] = r[i-31]`` for
  ``31 <= i < 34``, then ``r[i] = r[i-31] + r[i-3]`` (mod 2**32); the k-th output is ``r[k+344] >> 1``.
* :func:`random_shuffle` is libstdc++'s: ``for i in 1..n-1: swap(a[i], a[rand() % (i + 1)])``.
"""
from __future__ import annotations

from collections import deque

_MOD = 2147483647  # 2**31 - 1


class CRand:
    """glibc's ``rand()`` after ``srand(seed)`` (seed 0 counts as 1, as in glibc)."""

    def __init__(self, seed: int = 1):
        r = [seed & 0xFFFFFFFF or 1]
        for i in range(1, 31):
            prev = r[i - 1] - (1 << 32) if r[i - 1] >= 1 << 31 else r[i - 1]  # glibc works on int32
            hi, lo = divmod(prev, 127773) if prev >= 0 else (-(-prev // 127773), -(-prev % 127773))
            word = 16807 * lo - 2836 * hi
            r.append(word + _MOD if word < 0 else word)
        r += r[0:3]
        window = deque(r[-31:], maxlen=31)
        self.window = window
        for _ in range(310):  # glibc discards the first 310 outputs
            self._step()

    def _step(self) -> int:
        value = (self.window[0] + self.window[-3]) & 0xFFFFFFFF
        self.window.append(value)
        return value

    def rand(self) -> int:
        """The next ``rand()``: 0 .. 2**31 - 1."""
        return self._step() >> 1

    def state(self) -> list[int]:
        """The generator's position: its last 31 words."""
        return list(self.window)

    def restore(self, state: list[int]) -> None:
        if len(state) != 31:
            raise ValueError("a CRand state has 31 words")
        self.window = deque((int(v) & 0xFFFFFFFF for v in state), maxlen=31)


def random_shuffle(items: list, rng: CRand) -> None:
    """libstdc++'s ``std::random_shuffle(first, last)`` over ``rng``'s ``rand()``, in place."""
    for i in range(1, len(items)):
        j = rng.rand() % (i + 1)
        if i != j:
            items[i], items[j] = items[j], items[i]
