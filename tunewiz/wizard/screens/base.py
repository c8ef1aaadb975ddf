"""The frame every step shares: title, body, why panel, status line, Back/Next."""
from __future__ import annotations

from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from tunewiz.wizard.widgets.why import WhyPanel

STEPS = ("welcome", "data", "net", "solver", "start", "train", "done")
TITLES = {
    "welcome": "Welcome", "data": "Data", "net": "Net", "solver": "Solver",
    "start": "Start", "train": "Train", "done": "Done",
}


class StepScreen(Screen):
    """Base of each step. Subclasses set ``KEY`` and implement ``compose_body`` and ``validate``."""

    KEY = "welcome"
    SHOW_FOOTER = True
    BINDINGS = [
        Binding("ctrl+n", "next", "Next"),
        Binding("escape", "back", "Back"),
        Binding("f1", "why", "Why?"),
    ]

    def compose(self):
        number = STEPS.index(self.KEY) + 1
        trail = " > ".join(
            f"[b]{TITLES[k].upper()}[/b]" if k == self.KEY else TITLES[k] for k in STEPS
        )
        yield Static(f"Step {number}/7  {trail}", id="step-title")
        with VerticalScroll(id="body"):
            yield from self.compose_body()
        yield Static("", id="status")
        with Horizontal(id="nav"):
            yield Button("< Back (Esc)", id="back", compact=True)
            yield Button(self.next_label(), id="next", variant="primary", compact=True)
        if self.SHOW_FOOTER:
            yield Footer()

    def compose_body(self):
        yield from ()

    def next_label(self) -> str:
        return "Next > (Ctrl+N)"

    def on_mount(self) -> None:
        if self.app.size.width >= 110 and self.app.why_default:
            self.action_why()

    # ------------------------------------------------------------ status line
    def say(self, text: str) -> None:
        """A neutral status line."""
        status = self.query_one("#status", Static)
        status.remove_class("-error")
        status.update(text)

    def problem(self, text: str) -> None:
        """A problem, marked by words (not only colour)."""
        status = self.query_one("#status", Static)
        status.add_class("-error")
        status.update(f"[b]Problem:[/b] {text}")

    @property
    def state(self):
        return self.app.state

    # ------------------------------------------------------------ navigation
    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "next":
            event.stop()
            self.action_next()
        elif event.button.id == "back":
            event.stop()
            self.action_back()
        else:
            self.on_step_button(event.button.id or "")

    def on_step_button(self, button_id: str) -> None:
        """Subclasses answer their own buttons here."""

    def action_why(self) -> None:
        """Show or hide the why panel (mounted on first use: the first screen stays light)."""
        panels = self.query(WhyPanel)
        if panels:
            panels.first().toggle()
        else:
            panel = WhyPanel(self.KEY)
            self.mount(panel, before=self.query_one("#body"))
            panel.toggle()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()

    def action_next(self) -> None:
        error = self.validate()
        if error:
            self.problem(error)
            return
        self.app.go_next(self.KEY)

    def validate(self) -> str | None:
        """None when the step is complete, else exactly what is missing."""
        return None
