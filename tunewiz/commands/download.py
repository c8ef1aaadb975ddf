"""``tunewiz download-model MODEL_DIR``: Caffe's ``scripts/download_model_binary.py``.

Reads the folder's ``readme.md`` front matter (``caffemodel``, ``caffemodel_url``, ``sha1``: the keys
Caffe's script requires), downloads ``caffemodel_url`` with a progress bar on stderr, checks the sha1 and
only then renames the file to ``MODEL_DIR/<caffemodel>``: that name never holds a partial or unchecked
file.  The bytes collect in ``<caffemodel>.part`` beside it (:func:`tunewiz.caffe.tempfiles.partial_path`);
a download that stops (a cut, a timeout, Ctrl-C) keeps them there and the next run resumes with HTTP Range.

As Caffe's script: a caffemodel already there with the readme's sha1 is left alone ("already exists").
Caffe's script downloads over one whose sha1 differs; here it is the user's file, so it is kept unless
``--force``, and even then replaced only once the new file's sha1 checks out.
"""
from __future__ import annotations

import re
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from tunewiz.caffe.tempfiles import partial_path
from tunewiz.caffe.zoo import find_readme, front_matter, sha1_of
from tunewiz.commands.httpfetch import Fetched, FetchFailed, PartialInUse, fetch
from tunewiz.commands.progress import byte_bar
from tunewiz.errors import TunewizError

REQUIRED = ("caffemodel", "caffemodel_url", "sha1")  # Caffe's required_keys
_SHA1 = re.compile(r"^[0-9a-f]{40}$")


def add_arguments(parser, name: str) -> None:
    parser.add_argument("model_dir", metavar="MODEL_DIR",
                        help="a Model Zoo folder whose readme.md front matter gives caffemodel, caffemodel_url, "
                             "sha1; the download collects in <caffemodel>.part, which the next run resumes")
    parser.add_argument("--force", action="store_true",
                        help="replace a caffemodel already there whose sha1 differs from the readme's "
                             "(only once the download's sha1 checks out)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for the server before giving up (default 60)")
    parser.add_argument("--retries", type=int, default=3,
                        help="times to resume at once when the connection breaks mid-file (default 3)")


@dataclass
class ZooModel:
    """What the readme says about the caffemodel to download."""

    readme: Path
    name: str
    caffemodel: Path
    url: str
    sha1: str


def run(args) -> int:
    if args.timeout <= 0 or args.retries < 0:
        raise TunewizError(f"--timeout {args.timeout:g} --retries {args.retries}: give a timeout > 0 and retries >= 0")
    model = read_zoo_model(Path(args.model_dir))
    final, part = model.caffemodel, partial_path(model.caffemodel)
    if final.exists() and _already_there(model, args.force):
        _drop(part)
        return 0
    kept = part.stat().st_size if part.is_file() else 0
    if kept:
        print(f"resuming {part} ({kept:,} bytes already there)", file=sys.stderr)
    print(f"downloading {model.name}: {model.url}", file=sys.stderr)
    drawing = _Drawing()
    try:
        fetched = fetch(model.url, part, args.timeout, args.retries, drawing.progress, drawing.say)
    except PartialInUse:
        raise  # the other download's file: neither ours to describe nor to remove
    except FetchFailed as exc:
        drawing.close()
        raise FetchFailed(f"{model.readme}'s caffemodel_url {exc}{_kept(part)}") from None
    except OSError as exc:  # this machine's side: the folder is read-only, the disk is full
        drawing.close()
        raise FetchFailed(f"{exc.filename or part}: {exc.strerror or exc}{_kept(part)}") from None
    except KeyboardInterrupt:
        drawing.close()
        print(f"stopped{_kept(part)}", file=sys.stderr)
        raise
    drawing.close()
    _check_and_rename(model, part, fetched)
    return 0


def read_zoo_model(folder: Path) -> ZooModel:
    """The readme's caffemodel, its URL and sha1, each checked (one message naming the readme and the fix)."""
    if not folder.is_dir():
        raise TunewizError(f"{folder}: not a folder; give a Model Zoo folder (it holds a readme.md)")
    readme = find_readme(folder)
    if readme is None:
        raise TunewizError(f"{folder}: no readme.md; a Model Zoo folder has one whose front matter gives "
                           f"{', '.join(REQUIRED)}")
    meta = front_matter(readme)
    if not meta:
        raise TunewizError(f"{readme}: no front matter (key: value lines between two '---' lines at the top); "
                           f"add {', '.join(REQUIRED)} there")
    missing = [key for key in REQUIRED if not meta.get(key)]
    if missing:
        raise TunewizError(f"{readme}: its front matter has no {' and no '.join(missing)}; add "
                           + ", ".join(f"'{key}: …'" for key in missing) + " between its '---' lines")
    name, url, sha1 = meta["caffemodel"], meta["caffemodel_url"], meta["sha1"].lower()
    if Path(name).name != name or name in (".", ".."):
        raise TunewizError(f"{readme}: caffemodel '{name}' must be a file name in {folder}, not a path")
    if not _SHA1.match(sha1):
        raise TunewizError(f"{readme}: sha1 '{meta['sha1']}' is not a sha1 (40 hex digits)")
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
        raise TunewizError(f"{readme}: caffemodel_url '{url}' is not an http:// or https:// link")
    return ZooModel(readme, meta.get("name") or name, folder / name, url, sha1)


def _already_there(model: ZooModel, force: bool) -> bool:
    """Whether the caffemodel in the folder is the readme's (then nothing to do); a different one is kept
    unless --force."""
    final = model.caffemodel
    if not final.is_file():
        raise TunewizError(f"{final}: not a regular file (a folder, a pipe?); move it away and run again")
    got = sha1_of(final)
    if got == model.sha1:
        print(f"Model already exists: {final} (sha1 {got} as {model.readme.name} says)")
        return True
    if not force:
        raise TunewizError(f"{final} exists, but its sha1 is {got}, not {model.sha1} as {model.readme} says (an "
                           "incomplete download or another file); kept it. Give --force to download the model "
                           "again: the file is replaced only once the new one's sha1 checks out")
    print(f"{final}: sha1 {got} is not the readme's; downloading it again (--force)", file=sys.stderr)
    return False


def _check_and_rename(model: ZooModel, part: Path, fetched: Fetched) -> None:
    """The sha1 decides: the readme's -> renamed to the final name; another -> removed, nothing written."""
    got = sha1_of(part)
    if got != model.sha1:
        part.unlink()
        kept = " (the file already there is kept)" if model.caffemodel.exists() else ""
        html = (f"; the server sent {fetched.content_type}: a web page, not the model — open the link in a browser"
                if "html" in fetched.content_type.lower() else "")
        resumed = (f"; {fetched.resumed_from:,} of its bytes came from an earlier run, so the file on the server "
                   "may have changed since: run again to download it whole" if fetched.resumed_from else "")
        raise FetchFailed(f"{model.url}: the {fetched.size:,} bytes downloaded have sha1 {got}, not {model.sha1} as "
                          f"{model.readme} says; removed them, {model.caffemodel.name} was not written{kept}"
                          f"{html}{resumed}")
    part.replace(model.caffemodel)
    print(f"{model.caffemodel}: {fetched.size:,} bytes, sha1 {got} as {model.readme.name} says")


def _kept(part: Path) -> str:
    """Where the bytes received so far wait for the next run (nothing when there are none)."""
    if part.is_file() and part.stat().st_size:
        return f"; the {part.stat().st_size:,} bytes received are kept in {part}: run the same command to resume"
    _drop(part)
    return ""


def _drop(part: Path) -> None:
    """Remove a partial that holds nothing worth resuming."""
    try:
        part.unlink()
    except FileNotFoundError:
        pass


class _Drawing:
    """The byte bar on stderr: redrawn on a terminal at most every 0.1 s; elsewhere (a log) every 10 s."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.start = self.last = time.monotonic()
        self.base = self.prev = -1  # bytes there when this run's (or a restart's) first body began
        self.open = False  # a bar is on the line (a note first ends it)

    def progress(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if done < self.prev or self.base < 0:  # the first body, or the server made us start over:
            self.base, self.start = done, now  # the rate counts this run's bytes only
        self.prev = done
        if now - self.last < (0.1 if self.tty else 10) and done != total:
            return
        self.last = now
        line = byte_bar(done, total, (done - self.base) / max(now - self.start, 1e-9))
        sys.stderr.write(line if self.tty else line.lstrip("\r") + "\n")
        sys.stderr.flush()
        self.open = self.tty

    def say(self, line: str) -> None:
        self.close()
        print(line, file=sys.stderr)

    def close(self) -> None:
        if self.open:
            sys.stderr.write("\n")
            self.open = False
