"""Pilot helpers: wait for a condition, read a widget's text, walk the steps on a workspace."""
from __future__ import annotations

import asyncio
import time

from textual.widgets import Input, Static


async def until(pilot, cond, timeout: float = 120.0, what: str = "condition") -> None:
    """Poll ``cond`` every 50 ms; fail after ``timeout`` s (generous: a loaded machine is slow, a pass is not)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def text(app, selector: str) -> str:
    """The plain text a Static shows (markup removed)."""
    widget = app.screen.query_one(selector, Static)
    return str(widget.render()).replace("\xa0", " ")


def screen_text(app) -> str:
    """Every Static/Label/Button/Input text of the current screen, one per line (the 'snapshot')."""
    parts = []
    for w in app.screen.query("*"):
        if isinstance(w, Input):
            parts.append(w.value)
        elif hasattr(w, "render") and isinstance(w, Static):
            parts.append(str(w.render()))
    return "\n".join(parts)


def shot(app) -> str:
    """The rendered screen as plain text, row by row: exactly the glyphs a user sees."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system=None, record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


async def set_input(pilot, app, selector: str, value: str, submit: bool = True) -> None:
    widget = app.screen.query_one(selector, Input)
    widget.focus()
    widget.value = value
    await pilot.pause()
    if submit:
        await pilot.press("enter")
        await pilot.pause()


async def press_button(pilot, app, selector: str) -> None:
    """Tab to a button (focus scrolls it into view) and press Enter, as a keyboard user does."""
    app.screen.query_one(selector).focus()
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()


async def to_data(pilot, app) -> None:
    await pilot.pause()
    assert type(app.screen).__name__ == "WelcomeScreen"
    await pilot.press("down", "enter")  # "Start a new fine-tune"
    await until(pilot, lambda: type(app.screen).__name__ == "DataScreen", what="Data screen")


async def convert(pilot, app, images) -> None:
    await set_input(pilot, app, "#images", str(images))
    await press_button(pilot, app, "#convert")
    await until(pilot, lambda: bool(app.state.train_db) or "Problem" in text(app, "#status"),
                what="conversion")
    assert app.state.train_db, text(app, "#status")


async def to_net(pilot, app, ws) -> None:
    await to_data(pilot, app)
    await convert(pilot, app, ws["images"])
    await pilot.press("ctrl+n")
    await until(pilot, lambda: type(app.screen).__name__ == "NetScreen", what="Net screen")
    await set_input(pilot, app, "#net-src", str(ws["net"]), submit=False)
    await set_input(pilot, app, "#deploy-src", str(ws["deploy"]))
    await until(pilot, lambda: not app.screen.pending and app.state.net is not None, what="net plan")


async def to_solver(pilot, app, ws) -> None:
    await to_net(pilot, app, ws)
    await pilot.press("ctrl+n")
    await until(pilot, lambda: type(app.screen).__name__ == "SolverScreen", what="Solver screen")
    await set_input(pilot, app, "#solver-src", str(ws["solver"]))
    await until(pilot, lambda: app.state.solver is not None, what="solver copy")


async def to_start(pilot, app, ws) -> None:
    await to_solver(pilot, app, ws)
    await pilot.press("ctrl+n")
    await until(pilot, lambda: type(app.screen).__name__ == "StartScreen", what="Start screen")


async def check_start(pilot, app, path, kind: str = "weights") -> None:
    if kind != "weights":
        app.screen.query_one(f"#kind-{kind}").value = True
        await pilot.pause()
    await set_input(pilot, app, "#start-path", str(path))
    await until(pilot, lambda: not app.screen.checking, what="start checks")
    await asyncio.sleep(0)


def assert_frame(app, step: int) -> str:
    """What every step shows whatever the terminal size: its title, Back and Next (nothing cut off)."""
    seen = shot(app)
    assert f"Step {step}/7" in seen, seen
    assert "< Back (Esc)" in seen and "(Ctrl+N)" in seen, seen
    return seen
