"""gflags' flag forms for every ``tunewiz`` subcommand: :class:`GflagsParser`.

Caffe's tools parse their flags with gflags, so Caffe's docs and users' scripts write
``caffe train -solver s.prototxt -gpu=0 -noshuffle``.  A command declares its flags the
argparse way (``--solver``, ``--gray`` with ``action="store_true"``); before argparse sees
the command line, the parser rewrites each token that names one of those flags:

* a flag with a value: ``-flag v``, ``-flag=v``, ``--flag v``, ``--flag=v`` -> ``--flag=v``
  (the value is joined to its flag, so a value such as ``-1`` is never taken for a flag);
* a boolean: ``-flag``, ``--flag``, ``-noflag``, ``--noflag``, ``-flag=true|false`` (also
  t/f, yes/no, y/n, 1/0, any case) -> ``--flag`` or ``--noflag``; it never takes the next token.

Tokens that name no flag are left alone (positional arguments, negative numbers, ``-h``,
``-`` for stdin), ``--`` ends the flags, and gflags' refusal of abbreviations is kept
(``allow_abbrev=False``).  An unknown flag is one line naming the nearest known one, exit 2.
"""
from __future__ import annotations

import argparse
import re
import sys

# gflags' spellings of a boolean's value, compared lower-cased (gflags ignores case)
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})

# a token that is a number, not a flag (argparse's own test is narrower: it misses "-1e-3")
_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

FORMS_EPILOG = ("Flags may also be written as gflags (Caffe's tools) takes them: -flag value, -flag=value, "
                "--flag=value; booleans as -flag, -noflag, -flag=true|false.")


def _is_bool(action: argparse.Action) -> bool:
    """store_true / store_false (and store_const of a bool): the flags gflags calls booleans."""
    return action.nargs == 0 and isinstance(action.const, bool) and not isinstance(action.default, str)


class GflagsParser(argparse.ArgumentParser):
    """An ArgumentParser that also takes every long flag as gflags writes it (see the module doc)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)  # gflags takes no abbreviations, and neither do we
        kwargs.setdefault("epilog", FORMS_EPILOG)
        super().__init__(*args, **kwargs)
        self._gflags_negations: dict[str, argparse.Action] = {}  # boolean's name -> its hidden --noname

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(self.gflags_normalise(args), namespace)

    # -- the rewrite --------------------------------------------------------------------------------

    def _long_flags(self) -> dict[str, argparse.Action]:
        """name (without dashes) -> action, for every ``--name`` option.  Each boolean gets a hidden
        ``--noname`` the first time (argparse has no option string that stores its opposite)."""
        negations = self._gflags_negations
        for action in list(self._actions):
            if not _is_bool(action) or action in negations.values():
                continue
            for opt in [o for o in action.option_strings if o.startswith("--")]:
                if "--no" + opt[2:] not in self._option_string_actions:
                    negations[opt[2:]] = self.add_argument("--no" + opt[2:], action="store_const", dest=action.dest,
                                                           const=not action.const, help=argparse.SUPPRESS)
        return {opt[2:]: action for opt, action in self._option_string_actions.items()
                if opt.startswith("--") and len(opt) > 2}

    def gflags_normalise(self, args: list[str]) -> list[str]:
        """``args`` with each gflags-style flag rewritten to the ``--flag[=value]`` argparse takes."""
        flags = self._long_flags()
        out: list[str] = []
        i = 0
        while i < len(args):
            token = args[i]
            i += 1
            if token == "--":  # the end of the flags: the rest is passed on as written
                out.append(token)
                out.extend(args[i:])
                break
            if not token.startswith("-") or token == "-" or _NUMBER.match(token):
                out.append(token)  # a positional, stdin or a number
                continue
            dashes = "--" if token.startswith("--") else "-"
            name, sep, value = token[len(dashes):].partition("=")
            action = flags.get(name)
            if action is None:
                if token in self._option_string_actions:
                    out.append(token)  # a short option argparse knows as is (-h)
                    continue
                self._unknown(dashes, name)
            if action.nargs == 0:
                out.append(self._switch(dashes, name, sep, value, action))
            elif sep:
                out.append(f"--{name}={value}")
            elif action.nargs is None and i < len(args) and not self._names_a_flag(args[i], flags):
                out.append(f"--{name}={args[i]}")  # gflags takes the next token as the value, whatever it is
                i += 1
            else:
                out.append(f"--{name}")  # no value (argparse says so) or several (nargs="+": argparse reads them)
        return out

    def _names_a_flag(self, token: str, flags: dict) -> bool:
        """Whether the token after ``-flag`` is another flag (then argparse reports the missing value)."""
        if token == "--" or token in self._option_string_actions:
            return True
        if not token.startswith("-") or token == "-" or _NUMBER.match(token):
            return False
        return token.lstrip("-").partition("=")[0] in flags

    def _switch(self, dashes: str, name: str, sep: str, value: str, action) -> str:
        """A flag without a value (a boolean, or --help): its gflags forms -> one argparse option."""
        if not sep:
            return f"--{name}"
        if not _is_bool(action) or action in self._gflags_negations.values():  # gflags refuses "-nogray=true" too
            self._fail(f"{dashes}{name} takes no value (given {dashes}{name}={value})")
        word = value.lower()
        if word in TRUE_WORDS:
            return f"--{name}"
        if word in FALSE_WORDS:
            return f"--no{name}"
        self._fail(f"{dashes}{name}={value}: a boolean flag takes true or false (or t/f, yes/no, y/n, 1/0)")

    # -- errors: one line, no usage dump ------------------------------------------------------------

    def _unknown(self, dashes: str, name: str) -> None:
        import difflib  # only on this error path: start-up stays lean

        known = sorted({opt[2:] for opt, action in self._option_string_actions.items()
                        if opt.startswith("--") and action.help != argparse.SUPPRESS})
        nearest = difflib.get_close_matches(name, known, n=1, cutoff=0.0)
        hint = f"; did you mean {dashes}{nearest[0]}?" if nearest else ""
        self._fail(f"unknown flag {dashes}{name}{hint}")

    def _fail(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message}\n")
