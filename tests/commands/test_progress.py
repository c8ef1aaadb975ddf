"""The commands' progress bars: images (``bar``) and bytes (``byte_bar``) in one style."""
from tunewiz.commands.progress import bar, byte_bar


def test_the_image_bar():
    assert bar(3, 10, 5.0, skipped=1, width=10) == "\r[###.......] 3/10  30%      5 img/s  skipped 1"


def test_the_byte_bar_counts_in_the_totals_unit():
    line = byte_bar(12 * 2**20, 48 * 2**20, 4.5 * 2**20, width=8)
    assert line == "\r[##......] 12.0/48.0 MiB  25%    4.5 MiB/s"
    assert byte_bar(100, 200, 50, width=4) == "\r[##..] 100/200 B  50%       50 B/s"
    assert byte_bar(3 * 2**30, 3 * 2**30, 2**30, width=2).startswith("\r[##] 3.0/3.0 GiB 100%")


def test_without_a_total_the_bytes_so_far():
    assert byte_bar(1536, None, 1024) == "\r1.5 KiB    1.0 KiB/s"
