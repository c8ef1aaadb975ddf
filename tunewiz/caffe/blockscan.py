"""Where a block that is never closed began: protobuf reports a missing ``}`` where it notices it, not there.

A ``layer {`` whose ``}`` is missing swallows the next ``layer {``, and the parser stops there with
``unknown field "layer" in LayerParameter`` — at the wrong layer.  :func:`open_blocks` scans the text up to
that point (strings and ``#`` comments skipped, ``{ }`` and ``< >`` as the text format has them) and
returns the blocks still open, each with the message type it holds; :func:`unclosed` picks the one that
should have been closed: the outermost open block inside the nearest enclosing message that knows the
field the parser stopped at (at the end of the file: the outermost open block).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"""\#[^\n]*                     # a comment, to the end of the line
                        | "(?:[^"\\\n]|\\.)*"            # strings, with their escapes
                        | '(?:[^'\\\n]|\\.)*'
                        | [A-Za-z_][\w.]*                # identifiers (field names, enum values)
                        | [{}<>] | \n
                        | [^\s{}<>\#"'A-Za-z_]+ | [ \t\r\f\v]+   # anything else: numbers, ':', spaces""", re.X)


@dataclass
class Block:
    """An open ``name {``: the field name, where it began (1-based line and column), its message type."""

    name: str
    line: int
    column: int
    descriptor: object | None  # None when the field is unknown (its contents are not followed)


def open_blocks(text: str, line: int, column: int, descriptor) -> list[Block]:
    """The blocks open just before ``line``:``column`` (1-based), outermost first."""
    stack: list[Block] = []
    row, start = 1, 0  # current line and the offset where it starts
    last: tuple[str, int, int] | None = None  # the last identifier: its text, line, column
    for match in _TOKEN.finditer(text):
        token, pos = match.group(), match.start()
        if (row, pos - start + 1) >= (line, column):
            break
        if token == "\n":
            row, start = row + 1, match.end()
        elif token in "{<":
            parent = stack[-1].descriptor if stack else descriptor
            name, at_line, at_col = last if last else ("?", row, pos - start + 1)
            field = parent.fields_by_name.get(name) if parent is not None else None
            stack.append(Block(name, at_line, at_col, field.message_type if field is not None else None))
            last = None
        elif token in "}>":
            if stack:
                stack.pop()
            last = None
        elif token[0].isalpha() or token[0] == "_":
            last = (token, row, pos - start + 1)
    return stack


def unclosed(stack: list[Block], descriptor, field: str | None) -> Block | None:
    """The block that should have been closed before ``field`` (None: the field fits nowhere outside it,
    so a brace is not what is wrong); with ``field`` None (the file ended): the outermost open block."""
    if not stack:
        return None
    if field is None:
        return stack[0]
    levels = [descriptor] + [b.descriptor for b in stack]
    for k in range(len(stack) - 1, -1, -1):
        if levels[k] is not None and field in levels[k].fields_by_name:
            return stack[k]
    return None
