"""``tunewiz.data.crand``: glibc's ``rand()`` and libstdc++'s ``std::random_shuffle``, the draws of Caffe's
HDF5Data shuffle (checked against the C library itself where it is glibc, and against real Caffe's order)."""
import ctypes
import ctypes.util

import pytest

from tunewiz.data.crand import CRand, random_shuffle


def _glibc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 (only glibc has it)
    except (OSError, AttributeError):
        pytest.skip("not glibc")
    return libc


@pytest.mark.parametrize("seed", [1, 0, 7, 2**31 + 5, 2**32 - 1])
def test_rand_is_glibc_rand(seed):
    libc = _glibc()
    libc.srand(ctypes.c_uint(seed))
    ours = CRand(seed)
    assert [ours.rand() for _ in range(2000)] == [libc.rand() for _ in range(2000)]


def test_first_draws_of_srand_1():
    """glibc's well-known first outputs after srand(1)."""
    rng = CRand()
    assert [rng.rand() for _ in range(3)] == [1804289383, 846930886, 1681692777]


def test_random_shuffle_gives_caffes_first_order():
    """Caffe 1.0's HDF5Data over the 3-row b.h5 with shuffle read rows 0, 2, 1 first (tests/fixtures/hdf5,
    case shuffle_one: one file, so the file order draws nothing)."""
    rows = list(range(3))
    random_shuffle(rows, CRand(1))
    assert rows == [0, 2, 1]


def test_state_and_restore_continue_the_stream():
    rng = CRand()
    for _ in range(50):
        rng.rand()
    state = rng.state()
    ahead = [rng.rand() for _ in range(10)]
    other = CRand(99)
    other.restore(state)
    assert [other.rand() for _ in range(10)] == ahead
    with pytest.raises(ValueError):
        other.restore([1, 2, 3])


def test_shuffle_is_a_permutation():
    rng = CRand()
    for n in (0, 1, 2, 17):
        items = list(range(n))
        random_shuffle(items, rng)
        assert sorted(items) == list(range(n))
