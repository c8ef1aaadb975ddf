"""A keyboard-first file picker: type a path, or walk a tree; Enter chooses."""
from __future__ import annotations

from pathlib import Path

from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Input, Label


class FilePicker(ModalScreen[str | None]):
    """Pick a file (or a folder with ``folders=True``; either with ``files_too=True`` as well). Dismisses with
    the path or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+u", "up", "Parent folder"),
        Binding("ctrl+o", "choose", "Choose highlighted"),
    ]
    DEFAULT_CSS = """
    FilePicker { align: center middle; }
    FilePicker > Vertical { width: 90%; height: 90%; border: thick $accent; background: $surface; }
    FilePicker DirectoryTree { height: 1fr; }
    FilePicker #picker-title { width: 100%; }
    """

    def __init__(self, title: str, start: str = "", folders: bool = False, files_too: bool = False) -> None:
        super().__init__()
        self.title_text, self.folders, self.files_too = title, folders, files_too
        start_path = Path(start).expanduser() if start else Path.cwd()
        while not start_path.is_dir() and start_path != start_path.parent:
            start_path = start_path.parent
        self.root = start_path if start_path.is_dir() else Path.cwd()
        self.initial = start

    def compose(self):
        hint = "Enter opens a folder, Ctrl+O chooses it" if self.folders else "Enter chooses a file"
        hint = "Enter chooses a file or opens a folder, Ctrl+O chooses the folder" if self.files_too else hint
        with Vertical():
            yield Label(f"[b]{self.title_text}[/b]  ({hint}; Ctrl+U: parent; Esc: cancel)", id="picker-title")
            yield Input(self.initial, placeholder="type a path and press Enter", id="picker-path")
            yield DirectoryTree(self.root, id="picker-tree")

    def on_mount(self) -> None:
        self.query_one(DirectoryTree).focus()

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        if not self.folders or self.files_too:
            self.dismiss(str(event.path))

    def on_tree_node_highlighted(self, event) -> None:
        data = getattr(event.node, "data", None)
        if data is not None and hasattr(data, "path"):
            self.query_one("#picker-path", Input).value = str(data.path)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_choose(self) -> None:
        value = self.query_one("#picker-path", Input).value.strip()
        self.dismiss(value or None)

    def action_up(self) -> None:
        tree = self.query_one(DirectoryTree)
        self.root = self.root.parent
        tree.path = self.root
