"""labels.txt: one name a line, label 0 first; a count other than the net's classes is one message."""
from __future__ import annotations

import pytest

from tunewiz.infer.labels import LabelsError, class_names, read_labels


def test_names_are_whole_lines(tmp_path):
    path = tmp_path / "synset_words.txt"
    path.write_text("n01440764 tench, Tinca tinca\nn01443537 goldfish\n\n")
    assert read_labels(path) == ["n01440764 tench, Tinca tinca", "n01443537 goldfish"]


def test_a_blank_line_between_names_is_refused(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("cat\n\ndog\n")
    with pytest.raises(LabelsError, match="line 2 is blank"):
        read_labels(path)


def test_count_must_match_the_classes():
    assert class_names(3) == ["0", "1", "2"]
    with pytest.raises(LabelsError, match=r"labels.txt: 2 class names, but the net scores 3 classes \(blob 'ip'\)"):
        class_names(3, ["a", "b"], where="labels.txt", blob="ip")


def test_a_missing_file_is_one_message(tmp_path):
    with pytest.raises(LabelsError, match="cannot read the labels"):
        read_labels(tmp_path / "none.txt")
