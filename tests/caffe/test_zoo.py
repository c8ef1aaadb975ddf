"""A Model Zoo readme's front matter as Caffe's download_model_binary.py reads it (without PyYAML)."""
import hashlib

import pytest

from tunewiz.caffe.zoo import find_readme, front_matter, sha1_of

# models/bvlc_googlenet/readme.md of Caffe 1.0, its first lines
GOOGLENET = """---
name: BAIR/BVLC GoogleNet Model
caffemodel: bvlc_googlenet.caffemodel
caffemodel_url: http://dl.caffe.berkeleyvision.org/bvlc_googlenet.caffemodel
license: unrestricted
sha1: 405fc5acd08a3bb12de8ee5e23a96bec22f08204
caffe_commit: bc614d1bd91896e3faceaf40b23b72dab47d44f5
---

This model is a replication of the model described in the [GoogleNet](http://arxiv.org/abs/1409.4842) publication.

---
name: not front matter
"""


def _readme(tmp_path, text: str, name: str = "readme.md", **kw):
    path = tmp_path / name
    path.write_text(text, **kw)
    return path


def test_caffes_own_readme(tmp_path):
    meta = front_matter(_readme(tmp_path, GOOGLENET))
    assert meta == {"name": "BAIR/BVLC GoogleNet Model", "caffemodel": "bvlc_googlenet.caffemodel",
                    "caffemodel_url": "http://dl.caffe.berkeleyvision.org/bvlc_googlenet.caffemodel",
                    "license": "unrestricted", "sha1": "405fc5acd08a3bb12de8ee5e23a96bec22f08204",
                    "caffe_commit": "bc614d1bd91896e3faceaf40b23b72dab47d44f5"}


@pytest.mark.parametrize("text, meta", [
    # YAML's quotes and comments; a URL's own '#' and ':' stay
    ("---\nsha1: 'ab'\nname: \"N: x\"\nurl: http://h:80/a#b  # mirror\n---\n", {"sha1": "ab", "name": "N: x",
                                                                                 "url": "http://h:80/a#b"}),
    ("# Title\n\n--- \n  caffemodel: a.caffemodel\n---\n", {"caffemodel": "a.caffemodel"}),  # as Caffe: stripped lines
    ("---\n# a comment\n- a list item\ngist_id:\nsha1:abc\n---\n", {"gist_id": ""}),  # 'sha1:abc' is no key in YAML
    ("---\r\ncaffemodel: a.caffemodel\r\n---\r\n", {"caffemodel": "a.caffemodel"}),
    ("no front matter\n", {}),
    ("---\ncaffemodel: a.caffemodel\n", {}),  # never closed
])
def test_front_matter_lines(tmp_path, text, meta):
    assert front_matter(_readme(tmp_path, text, newline="")) == meta


def test_a_byte_order_mark_is_no_part_of_the_first_line(tmp_path):
    path = tmp_path / "readme.md"
    path.write_bytes(b"\xef\xbb\xbf---\ncaffemodel: a.caffemodel\n---\n")
    assert front_matter(path) == {"caffemodel": "a.caffemodel"}


def test_find_readme_takes_any_case(tmp_path):
    assert find_readme(tmp_path) is None
    _readme(tmp_path, "x", name="README.md")
    assert find_readme(tmp_path).name == "README.md"


def test_sha1_of_reads_in_chunks(tmp_path):
    data = bytes(range(256)) * 1000
    (tmp_path / "m.caffemodel").write_bytes(data)
    assert sha1_of(tmp_path / "m.caffemodel", chunk=1000) == hashlib.sha1(data).hexdigest()
