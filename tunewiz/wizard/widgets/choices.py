"""An option list that marks the highlighted choice with '>' (not only with a colour)."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList

MARK, PAD = "> ", "  "


class MarkedOptionList(OptionList):
    """OptionList whose highlighted option reads '> text'; the others '  text'."""

    def __init__(self, *options, **kwargs) -> None:
        self._texts = [str(o.prompt) for o in options]
        super().__init__(*options, **kwargs)
        for i, text in enumerate(self._texts):
            self.replace_option_prompt_at_index(i, Text(PAD + text))  # Text: '[RUNNING]' is not markup

    def add_marked(self, option) -> None:
        """Add an option at the end, marked like the others."""
        self._texts.append(str(option.prompt))
        self.add_option(option)
        self._mark(self.highlighted)

    def on_mount(self) -> None:
        self._mark(self.highlighted)

    def watch_highlighted(self, highlighted: int | None) -> None:
        super().watch_highlighted(highlighted)
        self._mark(highlighted)

    def _mark(self, highlighted: int | None) -> None:
        for i, text in enumerate(self._texts):
            if i < self.option_count:
                self.replace_option_prompt_at_index(i, Text((MARK if i == highlighted else PAD) + text))
