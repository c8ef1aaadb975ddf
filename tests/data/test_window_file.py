"""R-CNN window files: the parse, the foreground/background split and one clear message per error."""
import os

import pytest

from tunewiz.data.window_file import WindowFileError, parse_window_file, read_window_file

GOOD = """# 0
a.png
3
40
50
3
1 0.8 0 0 20 15
0 0.3 5 7 30 25
2 0.5 1 1 4 4
# 1
/abs/c.png
3 90 120 2
5 0.45 0 0 10 10
0 0.05 15 20 22 30
"""


def test_windows_split_by_the_thresholds_as_caffe():
    wf = parse_window_file("w.txt", GOOD, 0.5, 0.4, root_folder="imgs/")
    assert wf.images == [("imgs/a.png", (3, 40, 50)), ("imgs//abs/c.png", (3, 90, 120))]
    assert [(w.image, w.label, w.box, w.line) for w in wf.fg] == [(0, 1, (0, 0, 20, 15), 7), (0, 2, (1, 1, 4, 4), 9)]
    # background windows get label 0 and overlap 0; 0.45 is between the thresholds: not used
    assert [(w.image, w.label, w.overlap, w.line) for w in wf.bg] == [(0, 0, 0.0, 8), (1, 0, 0.0, 14)]
    assert wf.label_counts() == {0: 2, 1: 1, 2: 1}


@pytest.mark.parametrize("text, line, message", [
    ("", None, "the window file is empty"),
    ("0\na.png\n", 1, "expected '#'"),
    ("# x\n", 1, "image_index after '#' \\(an integer\\), found 'x'"),
    ("# 0\na.png\n3\n40\nfifty\n", 5, "width \\(an integer\\), found 'fifty'"),
    ("# 0\na.png\n1\n40\n50\n0\n", 1, "channels 1; WindowData reads every image in color"),
    ("# 0\na.png\n3\n40\n50\n2\n1 0.8 0 0 20 15\n", 7, "the file ends where class_index"),
    ("# 0\na.png\n3\n40\n50\n1\n1 high 0 0 20 15\n", 7, "overlap \\(a number\\), found 'high'"),
    ("# 0\na.png\n3\n40\n50\n1\n1 0.9 0 0 20.5 15\n", 7, "x2 \\(an integer\\), found '20.5'"),
    ("# 0\na.png\n3\n40\n50\n1\n0 0.9 0 0 20 15\n", 7, "foreground window .* has class_index 0"),
    ("# 0\na.png\n3\n40\n50\n-1\n", 6, "num_windows is -1"),
    ("# 1\na.png\n3\n40\n50\n0\n", 1, "image_index 1 is not one of the 1 images"),
    ("# 0\na.png\n3\n40\n50\n0\nextra\n", 7, "expected '#'"),
])
def test_errors_name_the_file_and_line(text, line, message):
    with pytest.raises(WindowFileError) as err:
        parse_window_file("w.txt", text, 0.5, 0.5)
    where = "w.txt: " if line is None else f"w.txt, line {line}: "
    assert str(err.value).startswith(where)
    assert err.match(message)
    assert "class_index overlap x1 y1 x2 y2" in str(err.value)  # the format, to fix it by


def test_unreadable_files(tmp_path):
    with pytest.raises(WindowFileError, match="Failed to open window file nope.txt"):
        read_window_file(str(tmp_path / "nope.txt"), 0.5, 0.5, shown="nope.txt")
    with pytest.raises(WindowFileError, match="not a regular file"):
        read_window_file(str(tmp_path), 0.5, 0.5)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(WindowFileError, match="not a regular file"):  # and it does not block
        read_window_file(str(fifo), 0.5, 0.5)
    (tmp_path / "w.txt").write_text(GOOD)
    assert len(read_window_file(str(tmp_path / "w.txt"), 0.5, 0.5).fg) == 2
