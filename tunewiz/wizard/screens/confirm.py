"""A small keyboard-first question: one line and a few choices."""
from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tunewiz.wizard.widgets.choices import MarkedOptionList


class Confirm(ModalScreen[str | None]):
    """Ask a question; dismisses with the chosen key (Esc: None)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Vertical { width: 70; height: auto; max-height: 90%; border: thick $warning; background: $surface; padding: 0 1; }
    Confirm OptionList { height: auto; }
    Confirm Label { width: 100%; }
    """

    def __init__(self, question: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.question, self.choices = question, choices

    def compose(self):
        with Vertical():
            yield Label(Text(self.question))
            yield MarkedOptionList(*[Option(text, id=key) for key, text in self.choices], id="choices")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
