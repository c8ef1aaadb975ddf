"""The "why" panel: a short teaching text beside each step, toggled with F1."""
from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widgets import Static

from tunewiz.wizard.whys import why_text


class WhyPanel(VerticalScroll):
    """Plain-words answers for the current step (hidden or shown with F1)."""

    DEFAULT_CSS = """
    WhyPanel { dock: right; width: 38; border-left: tall $accent; padding: 0 1; display: none; }
    WhyPanel.-shown { display: block; }
    """

    def __init__(self, screen_key: str) -> None:
        super().__init__(id="why", can_focus=False)
        self.screen_key = screen_key
        self.border_title = "Why? (F1 hides)"

    def compose(self):
        yield Static(why_text(self.screen_key), id="why-text")

    def toggle(self) -> None:
        self.toggle_class("-shown")

    @property
    def shown(self) -> bool:
        return self.has_class("-shown")
