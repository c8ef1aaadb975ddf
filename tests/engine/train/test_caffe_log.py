"""Our ``train.log`` (and ``tunewiz train``'s stderr) read by Caffe's own log parser.

``caffe_parse_log`` re-expresses the rules of BVLC Caffe's ``tools/extra/parse_log.py`` and its helper
``extract_seconds.py`` (Caffe 1.0; not their code):

* the log's year comes from the file's ctime; a line's time is read from glog's prefix as
  ``parts = line.strip().split()``: month ``int(parts[0][1:3])``, day ``int(parts[0][3:])``, clock
  ``parts[1]`` split at its last ``.`` into ``H:M:S`` and microseconds -> ``datetime(year, ...)``;
  a blank line (``parts[0]`` missing) or a prefix-less one makes that fail (older parse_log.py
  crashes; 1.0 skips ``ValueError`` lines silently, losing them) — here both are a test failure;
* the start time is the first line containing ``Solving`` (lines before it are consumed);
* ``Iteration (\\d+)`` sets the current iteration; nothing is read before the first one, and from
  then on every line's time is parsed;
* ``lr = <number>`` sets the learning rate; ``Train net output #k: NAME = VALUE`` and
  ``Test net output #k: NAME = VALUE`` fill a row per iteration (NumIters, Seconds, LearningRate,
  one column per NAME); a row is pushed when it has as many columns as the first row, or when a
  later iteration starts a new one; the first row's NaN learning rate is copied from the second.

A glog prefix with a year (``I20261127 ...``, what the fixtures' newer glog wrote) gives month 20:
the parser fails on it, and the test shows that too (so the check can fail).
"""
from __future__ import annotations

import datetime
import json
import re
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from training_util import FIX, workdir  # noqa: E402

from tunewiz.cli import main  # noqa: E402

RE_ITERATION = re.compile(r"Iteration (\d+)")
RE_TRAIN = re.compile(r"Train net output #(\d+): (\S+) = ([\.\deE+-]+)")
RE_TEST = re.compile(r"Test net output #(\d+): (\S+) = ([\.\deE+-]+)")
RE_LR = re.compile(r"lr = ([-+]?[0-9]*\.?[0-9]+([eE]?[-+]?[0-9]+)?)")
PREFIX = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ \S+\] ")


class Unparsable(AssertionError):
    """A line parse_log.py cannot take."""


def _when(line: str, year: int) -> datetime.datetime:
    """extract_seconds.extract_datetime_from_line's reading of glog's prefix."""
    try:
        parts = line.strip().split()
        month, day = int(parts[0][1:3]), int(parts[0][3:])
        clock = parts[1]
        dot = clock.rfind(".")
        hour, minute, second = (int(x) for x in clock[:dot].split(":"))
        return datetime.datetime(year, month, day, hour, minute, second, int(clock[dot + 1:]))
    except (ValueError, IndexError) as exc:
        raise Unparsable(f"parse_log.py cannot read {line!r}: {exc}") from None


def _add_output(regex, row, rows, line, iteration, seconds, lr):
    """parse_log.py's parse_line_for_net_output."""
    match = regex.search(line)
    if match:
        if not row or row["NumIters"] != iteration:
            if row:
                rows.append(row)
            row = {"NumIters": iteration, "Seconds": seconds, "LearningRate": lr}
        row[match.group(2)] = float(match.group(3))
    if row and rows and len(row) == len(rows[0]):
        rows.append(row)
        row = None
    return rows, row


def caffe_parse_log(path: Path) -> tuple[list[dict], list[dict]]:
    """(train rows, test rows) as parse_log.py makes them; raises Unparsable where it would fail."""
    year = datetime.datetime.fromtimestamp(path.stat().st_ctime).year
    train, test, train_row, test_row = [], [], None, None
    iteration, lr = -1, float("nan")
    with open(path) as f:
        start = None
        for line in f:
            if "Solving" in line:
                start = _when(line, year)
                break
        if start is None:
            raise Unparsable("no 'Solving' line: parse_log.py has no start time")
        for line in f:
            match = RE_ITERATION.search(line)
            if match:
                iteration = float(match.group(1))
            if iteration == -1:
                continue
            seconds = (_when(line, year) - start).total_seconds()
            match = RE_LR.search(line)
            if match:
                lr = float(match.group(1))
            train, train_row = _add_output(RE_TRAIN, train_row, train, line, iteration, seconds, lr)
            test, test_row = _add_output(RE_TEST, test_row, test, line, iteration, seconds, lr)
    for rows in (train, test):
        if len(rows) > 1:
            rows[0]["LearningRate"] = rows[1]["LearningRate"]
    return train, test


def _solver(root: Path, run: str, **fields) -> str:
    from tunewiz.caffe.netio import read_solver
    from tunewiz.caffe.prototxt import to_text

    sp = read_solver(root / run / "solver.prototxt")
    for key, value in fields.items():
        setattr(sp, key, value)
    (root / run / "edited_solver.prototxt").write_text(to_text(sp))
    return f"{run}/edited_solver.prototxt"


def _after_first_iteration(text: str) -> list[str]:
    lines = text.split("\n")
    first = next(i for i, line in enumerate(lines) if RE_ITERATION.search(line))
    return [line for line in lines[first:-1]] + ([lines[-1]] if lines[-1] else [])


def _assert_all_prefixed(text: str) -> None:
    bare = [line for line in _after_first_iteration(text) if not PREFIX.match(line)]
    assert not bare, f"bare lines after the first Iteration line: {bare[:3]}"


def _rows_close(ours: list[dict], caffe: list[dict]) -> None:
    assert len(ours) == len(caffe)
    for a, b in zip(ours, caffe):
        assert a.keys() == b.keys() and a["NumIters"] == b["NumIters"]
        for key in a.keys() - {"Seconds"}:
            assert a[key] == pytest.approx(b[key], rel=1e-5), (a["NumIters"], key)


def test_caffes_parser_reads_our_iter_size_log_as_it_reads_caffes(tmp_path, monkeypatch, capsys):
    """iter_size 2 + clip + tests every 10: parse_log.py's tables from our log equal those from Caffe's."""
    root = workdir(tmp_path, "sgd_sigmoid_itersize")
    monkeypatch.chdir(root)
    solver = _solver(root, "sgd_sigmoid_itersize", max_iter=13, snapshot=6)
    assert main(["train", "--solver", solver, "--weights", "init.caffemodel", "--run_dir", "run"]) == 0
    log = root / "run" / "train.log"
    _assert_all_prefixed(log.read_text())
    _assert_all_prefixed(capsys.readouterr().err)
    train, test = caffe_parse_log(log)

    caffe_log = tmp_path / "caffe.log"  # Caffe's own log of the same run (first 13 iterations)
    caffe_text = (FIX / "sgd_sigmoid_itersize" / "caffe_log_head.txt").read_text()
    caffe_log.write_text(caffe_text)
    with pytest.raises(Unparsable):  # glog with a year: parse_log.py cannot read it
        caffe_parse_log(caffe_log)
    caffe_log.write_text(re.sub(r"^([IWEF])\d{4}(\d{4}) ", r"\1\2 ", caffe_text, flags=re.M))
    caffe_train, caffe_test = caffe_parse_log(caffe_log)

    assert [r["NumIters"] for r in train] == list(range(13))  # "Train net output" = last sub-batch
    _rows_close(train, caffe_train[:13])
    assert [r["NumIters"] for r in test] == [0, 10] and set(test[0]) >= {"accuracy", "loss"}
    _rows_close(test, caffe_test)


def test_faults_warnings_and_errors_keep_the_prefix(tmp_path, monkeypatch, capsys):
    """A NaN stop (with snapshots before it), a Python warning and a fault's traceback: all prefixed."""
    from tunewiz.engine.net.net import Net

    root = workdir(tmp_path, "sgd_inv", caffe_snapshots=False)
    monkeypatch.chdir(root)
    real = Net.forward

    def noisy(self, inputs=None, retain_grad=False):
        warnings.warn("a library warning\nover two lines")
        return real(self, inputs, retain_grad)
    monkeypatch.setattr(Net, "forward", noisy)
    solver = _solver(root, "sgd_inv", base_lr=1e4, snapshot=1, lr_policy="fixed", momentum=0.0, test_interval=2)
    assert main(["train", "--solver", solver, "--weights", "init.caffemodel", "--run_dir", "nan"]) != 0
    err = capsys.readouterr().err
    text = (root / "nan" / "train.log").read_text()
    for out in (err, text):
        _assert_all_prefixed(out)
        assert "Snapshotting to binary proto file" in out and "] UserWarning: a library warning" in out
        assert re.search(r"^E\d{4} .*training diverged.*Lower base_lr", out, re.M)
    assert "tunewiz: error" not in err and err.count("training diverged") == 1  # said once, with the prefix
    train, _ = caffe_parse_log(root / "nan" / "train.log")
    assert train and all(r["NumIters"] < 10 for r in train)

    def broken(self, inputs=None, retain_grad=False):
        if getattr(self, "_calls", 0) > 2:
            raise RuntimeError("a bug of ours")
        self._calls = getattr(self, "_calls", 0) + 1
        return real(self, inputs, retain_grad)
    monkeypatch.setattr(Net, "forward", broken)
    solver = _solver(root, "sgd_inv", test_interval=1000, test_initialization=False,
                     snapshot_prefix="sgd_inv/bug")  # a new run: not beside the NaN run's snapshots
    assert main(["train", "--solver", solver, "--weights", "init.caffemodel", "--run_dir", "bug"]) == 1
    err = capsys.readouterr().err
    text = (root / "bug" / "train.log").read_text()
    for out in (err, text):
        _assert_all_prefixed(out)
        assert re.search(r"^F\d{4} .*\] RuntimeError: a bug of ours$", out, re.M)
        assert re.search(r"^F\d{4} .*\] Traceback \(most recent call last\):$", out, re.M)
    kinds = [json.loads(line)["event"] for line in (root / "bug" / "events.jsonl").read_text().splitlines()]
    assert kinds[0] == "started" and kinds[-2:] == ["stopped", "finished"]  # followers see the end
    stopped = json.loads((root / "bug" / "events.jsonl").read_text().splitlines()[-2])
    assert "RuntimeError: a bug of ours" in stopped["reason"]
    caffe_parse_log(root / "bug" / "train.log")


def test_multi_line_messages_and_carriage_returns_never_give_bare_lines(tmp_path):
    from tunewiz.engine.train.caffelog import CaffeLog

    path = tmp_path / "train.log"
    log = CaffeLog(path, None)
    log.info("solving", "Solving x")
    log.info("iteration", "Iteration 0 (0 iter/s, 0s/1 iters), loss = 1")
    log.info("x", "two\nlines\r\nand\rmore\n\nafter a blank")
    log.info("x", "")
    log.close()
    with open(path) as f:  # Python's reader splits at \r too
        lines = f.read().splitlines()
    assert len(lines) == 9 and all(PREFIX.match(line) for line in lines)
    caffe_parse_log(path)
