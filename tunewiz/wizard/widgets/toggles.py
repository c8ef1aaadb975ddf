"""Checkbox and radio button whose state shows as a glyph, not only as a colour."""
from __future__ import annotations

from textual.widgets import Checkbox, RadioButton


class _GlyphMixin:
    ON = "X"

    @property
    def BUTTON_INNER(self) -> str:  # noqa: N802 (textual's name)
        return self.ON if self.value else " "


class TickBox(_GlyphMixin, Checkbox):
    """A checkbox: [X] when ticked, [ ] when not."""


class Choice(_GlyphMixin, RadioButton):
    """A radio button: (●) when chosen, ( ) when not."""

    ON = "●"
