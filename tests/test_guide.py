"""Every command block of docs/guide.md runs, in order, on the bundled sample (tiny data).

The convention (docs/guide.md says it to its editors in an HTML comment at the top):

* ```bash blocks run in document order, each by ``bash -e`` in one empty temporary folder: files persist from
  block to block, shell variables do not (each block starts from the setup's variables).  ``tunewiz`` and
  ``python`` on PATH are this interpreter's (small shims, so an uninstalled checkout tests itself).
* ``<!-- guide-test: setup -->`` marks the reader's setup block (``export NAME=value`` lines for their model).
  It is not run: the test checks that it sets exactly the names of ``SAMPLE`` and exports the bundled LeNet
  sample's values for them instead (its deploy and caffemodel; gray 20x20, mean 0, scale 1/256; a 60-iteration
  first run; IMAGES: a copy of the first PER_CLASS images of each of its five class folders, so that the long
  run, about 20 epochs, stays a few seconds), so every later block runs the reader's commands on the sample.
* ``<!-- guide-test: wizard -->`` marks a block of ``tunewiz`` / ``tunewiz attach RUN_DIR`` lines, which open
  the interactive wizard and cannot run headless in bash.  Each line goes through ``tunewiz.cli.main`` as
  written (so ``attach`` checks its run folder as it does for a user), with the Textual app run by
  ``App.run_test()`` instead of on a terminal: the line passes when the app shows what the guide says it
  opens — the Welcome step for ``tunewiz``; for ``attach``, the progress panel of that run folder having read
  its trainer's first iteration — and is then closed (a training it follows goes on, as when a user quits).
  ``attach`` runs at once, as a reader's would: a trainer started a moment ago has no events.jsonl yet, and
  the panel waits for it.  tests/wizard/ walks the steps themselves.
* ``<!-- guide-test: pending issue-19 -->`` marks a block of commands that do not exist yet: not run, and
  reported as skipped, naming the block.  Later blocks must not need its output.
* A ```python block whose first line is ``# file: NAME`` is saved as NAME (the guide runs it in a later bash
  block); any other ```python block runs with ``python -`` in the folder.  Other fences (```text) never run.

Each block is a test of its own (``test_block[L123-section]``); a failure shows the block, its exit status,
stdout and stderr.  After a failed block the later ones are skipped (they depend on its files).
"""
from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

from tunewiz.sample_models import LENET_DIGITS

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide.md"
README = GUIDE.parents[1] / "README.md"
MARKERS = ("setup", "wizard", "pending issue-19")
BLOCK_TIMEOUT_S = 300  # a hung block fails instead of hanging the suite; the whole guide takes well under a minute
WIZARD_TIMEOUT_S = 60
# 320 training images: the long run's 20 epochs are 200 iterations (the whole sample: 460). The guide stops that
# run right after attaching to it: measured, the stop lands about 25 iterations in at 100 iterations/s, so a
# machine several times faster still stops it mid-run (a finished run makes `kill` fail, naming the block).
PER_CLASS = 80
SAMPLE = {
    "DEPLOY": str(LENET_DIGITS / "lenet_deploy.prototxt"),
    "WEIGHTS": str(LENET_DIGITS / "lenet_digits04.caffemodel"),
    "IMAGES": "",  # the fixture's copy of PER_CLASS images per class
    "CONVERT": "--gray --resize_height 20 --resize_width 20",
    "MEAN": "0",
    "SCALE": "0.00390625",
    "MAX_ITER": "60",
}


@dataclass
class Block:
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    marker: str  # "" or one of MARKERS
    heading: str

    @property
    def name(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-")[:40]
        return f"L{self.line}-{slug}"

    def where(self) -> str:
        return f"docs/guide.md:{self.line} ({self.heading})"


def parse_guide(text: str) -> list[Block]:
    """The fenced blocks, with the ``guide-test`` marker on the line before each and the heading above it."""
    blocks, heading, fence, body, marker, previous = [], "top", None, [], "", ""
    for number, line in enumerate(text.splitlines(), 1):
        if fence is not None:
            if line.strip() == "```":
                blocks.append(Block(fence[0], fence[1], "\n".join(body) + "\n", fence[2], heading))
                fence, body = None, []
            else:
                body.append(line)
            continue
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("```"):
            found = re.fullmatch(r"<!-- guide-test: (.+?) -->", previous.strip())
            marker = found.group(1) if found else ""
            fence = (number, line[3:].strip(), marker)
        previous = line
    assert fence is None, f"docs/guide.md:{fence[0]}: the block is never closed"
    return blocks


BLOCKS = parse_guide(GUIDE.read_text(encoding="utf-8"))
RUN = [b for b in BLOCKS if b.lang in ("bash", "python")]


@dataclass
class Outcome:
    status: str  # ok, failed, pending, not-run
    message: str = ""


def _shims(folder: Path) -> Path:
    """``tunewiz`` and ``python`` that run this interpreter (and so this checkout, with its PYTHONPATH)."""
    folder.mkdir()
    for name, args in (("tunewiz", "-m tunewiz"), ("python", "")):
        shim = folder / name
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {args} "$@"\n')
        shim.chmod(0o755)
    return folder


def _images(folder: Path) -> Path:
    """The first PER_CLASS images of each of the sample's class folders (names sorted), copied."""
    for source in sorted((LENET_DIGITS / "images").iterdir()):
        (folder / source.name).mkdir(parents=True)
        for image in sorted(source.iterdir())[:PER_CLASS]:
            shutil.copyfile(image, folder / source.name / image.name)
    return folder


def _failure(block: Block, code, out: str, err: str) -> str:
    def tail(text: str) -> str:
        return "\n".join(text.splitlines()[-60:]) or "(nothing)"

    return (f"{block.where()} exited with {code}:\n--- block ---\n{block.text}--- stdout (end) ---\n{tail(out)}\n"
            f"--- stderr (end) ---\n{tail(err)}")


def _run_shell(block: Block, work: Path, env: dict) -> Outcome:
    argv = ["bash", "-e", "-c", block.text] if block.lang == "bash" else [sys.executable, "-"]
    stdin = None if block.lang == "bash" else block.text
    try:
        done = subprocess.run(argv, cwd=work, env=env, input=stdin, capture_output=True, text=True,
                              timeout=BLOCK_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        return Outcome("failed", _failure(block, f"a timeout ({BLOCK_TIMEOUT_S} s)", str(exc.stdout or ""),
                                          str(exc.stderr or "")))
    if done.returncode != 0:
        return Outcome("failed", _failure(block, done.returncode, done.stdout, done.stderr))
    return Outcome("ok")


# -- the wizard, headless ---------------------------------------------------------------------------------
def _opened(app) -> bool:
    """The wizard shows what the guide says: Welcome, or the panel of the attached run with its first iteration."""
    screen = app.screen
    if app.attach_dir is None:
        return type(screen).__name__ == "WelcomeScreen"
    history = getattr(screen, "history", None)
    return type(screen).__name__ == "TrainScreen" and history is not None and \
        (bool(history.iters) or history.state in ("stopped", "finished"))


async def _drive(app) -> None:
    async with app.run_test(size=(100, 40)) as pilot:
        end = time.monotonic() + WIZARD_TIMEOUT_S
        while not _opened(app):
            if time.monotonic() > end:
                raise AssertionError(f"after {WIZARD_TIMEOUT_S} s the wizard shows {type(app.screen).__name__}, "
                                     "not what the guide says it opens")
            await pilot.pause(0.1)
        app.exit()


def _expand(line: str, env: dict) -> str:
    """``$NAME`` / ``${NAME}`` from the blocks' environment, as bash would."""
    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", lambda m: env.get(m.group(1) or m.group(2), ""), line)


def _run_wizard(block: Block, work: Path, env: dict) -> Outcome:
    from tunewiz.cli import main
    from tunewiz.commands import wizard as wizard_command

    lines = [ln for ln in block.text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    saved_run_app, saved_cwd = wizard_command._run_app, os.getcwd()
    wizard_command._run_app = lambda app: asyncio.run(_drive(app)) or 0
    os.chdir(work)
    try:
        for line in lines:
            argv = shlex.split(_expand(line, env), comments=True)
            if argv[:1] != ["tunewiz"]:
                return Outcome("failed", f"{block.where()}: a wizard block holds tunewiz lines only: {line!r}")
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(argv[1:])
                except Exception:  # the app's own fault, or _drive's: told as this block's failure
                    code, err = 1, io.StringIO(err.getvalue() + traceback.format_exc())
            if code != 0:
                return Outcome("failed", _failure(block, code, out.getvalue(), err.getvalue()))
    finally:
        os.chdir(saved_cwd)
        wizard_command._run_app = saved_run_app
    return Outcome("ok")


# -- the whole guide, once --------------------------------------------------------------------------------
def _run_block(block: Block, work: Path, env: dict) -> Outcome:
    if block.marker == "pending issue-19":
        first = next((ln for ln in block.text.splitlines() if ln.startswith("tunewiz")), block.text.split("\n")[0])
        return Outcome("pending", f"pending issue 19: {block.where()}: {first.strip()}")
    if block.marker == "setup":
        return Outcome("ok")  # replaced by SAMPLE (test_setup_block_sets_the_sample_names checks the names)
    if block.marker == "wizard":
        return _run_wizard(block, work, env)
    if block.lang == "python" and block.text.startswith("# file: "):
        name = block.text.split("\n", 1)[0].removeprefix("# file: ").strip()
        (work / name).write_text(block.text)
        return Outcome("ok")
    return _run_shell(block, work, env)


def _end_trainers(work: Path) -> None:
    """A trainer a failed block left running in the background (its pid in a run folder's train.pid)."""
    for pid_file in work.rglob("train.pid"):
        try:
            pid = int(pid_file.read_text().split()[0])
            if Path(os.readlink(f"/proc/{pid}/cwd")).resolve().is_relative_to(work.resolve()):
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            continue


@pytest.fixture(scope="module")
def guide_run(tmp_path_factory) -> dict[int, Outcome]:
    root = tmp_path_factory.mktemp("guide")
    work = root / "work"
    work.mkdir()
    path = f"{_shims(root / 'bin')}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, **SAMPLE, "IMAGES": str(_images(root / "images")), "PATH": path}
    outcomes: dict[int, Outcome] = {}
    failed = None
    try:
        for block in RUN:
            if failed is not None and block.marker != "pending issue-19":
                outcomes[block.line] = Outcome("not-run", f"not run: the block at {failed.where()} failed")
                continue
            outcome = outcomes[block.line] = _run_block(block, work, env)
            if outcome.status == "failed":
                failed = block
    finally:
        _end_trainers(work)
    return outcomes


@pytest.mark.parametrize("block", RUN, ids=[b.name for b in RUN])
def test_block(guide_run, block):
    outcome = guide_run[block.line]
    if outcome.status in ("pending", "not-run"):
        pytest.skip(outcome.message)
    assert outcome.status == "ok", outcome.message


# -- the guide's shape --------------------------------------------------------------------------------------
def test_setup_block_sets_the_sample_names():
    setups = [b for b in BLOCKS if b.marker == "setup"]
    assert len(setups) == 1, "docs/guide.md needs one '<!-- guide-test: setup -->' block"
    names = re.findall(r"^export (\w+)=", setups[0].text, flags=re.M)
    assert sorted(names) == sorted(SAMPLE), f"the setup block sets {names}; SAMPLE here has {list(SAMPLE)}"


def test_the_guides_sample_values_are_the_tests():
    """The block that gives a reader the sample's values sets what SAMPLE sets (IMAGES: the whole sample)."""
    blocks = [b for b in BLOCKS if "LENET_DIGITS" in b.text]
    assert len(blocks) == 1, "docs/guide.md needs one block that sets the bundled sample's values"
    show = "".join(f'printf "%s\\0" "${name}"\n' for name in SAMPLE)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", "-e", "-c", blocks[0].text + show], env=env, capture_output=True, text=True,
                          timeout=BLOCK_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    got = dict(zip(SAMPLE, done.stdout.split("\0")))
    assert got == {**SAMPLE, "IMAGES": str(LENET_DIGITS / "images")}


def test_every_block_is_one_the_test_knows():
    for block in BLOCKS:
        assert block.lang, f"{block.where()}: give the fence a language (bash, python, or text for one never run)"
        assert block.lang in ("bash", "python", "text"), f"{block.where()}: ```{block.lang} is not run; use text"
        assert block.marker in ("", *MARKERS), f"{block.where()}: unknown marker 'guide-test: {block.marker}'"
        if block.marker == "wizard":
            assert all(ln.startswith("tunewiz") for ln in block.text.splitlines() if ln.strip()), block.where()


def test_readme_links_the_guide():
    assert "](docs/guide.md)" in README.read_text(encoding="utf-8")
