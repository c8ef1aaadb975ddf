"""Plots drawn with textual-plotext (imported only when a plot is first shown).

Series are told apart by marker and legend text, never by colour alone.
"""
from __future__ import annotations

from textual.widgets import Static
from textual_plotext import PlotextPlot

MAX_POINTS = 240  # a terminal plot is at most a few hundred cells wide


def thin(xs: list, ys: list, limit: int = MAX_POINTS) -> tuple[list, list]:
    """At most ``limit`` evenly spaced points (the last one kept), so long runs stay cheap to draw."""
    n = len(xs)
    if n <= limit:
        return list(xs), list(ys)
    step = n / limit
    idx = sorted({int(i * step) for i in range(limit)} | {n - 1})
    return [xs[i] for i in idx], [ys[i] for i in idx]


class BarPlot(PlotextPlot):
    """A bar chart (the class histogram)."""

    def show_bars(self, labels: list[str], values: list[float], title: str) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.bar(labels, values, marker="sd")
        plt.title(title)
        self.refresh()


class LinePlot(PlotextPlot):
    """One or more lines over iterations (loss, accuracy, learning rate)."""

    def show_lines(self, series: list[tuple[str, list, list, str]], title: str, ylabel: str = "") -> None:
        """``series``: (label, xs, ys, marker) per line."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        _plot_series(plt, series, title, ylabel)
        self.refresh()


def _plot_series(plt, series: list[tuple[str, list, list, str]], title: str, ylabel: str = "") -> None:
    """Add each (label, xs, ys, marker) line, thinned to the plot's width, with the axis titles."""
    for label, xs, ys, marker in series:
        if xs:
            xs, ys = thin(xs, ys)
            plt.plot(xs, ys, label=label, marker=marker)
    plt.title(title)
    plt.xlabel("iteration")
    if ylabel:
        plt.ylabel(ylabel)


def draw_lines(series: list[tuple[str, list, list, str]], title: str, width: int, height: int):
    """A line plot drawn to text OFF the UI thread (own Plot object, monochrome theme)."""
    from rich.text import Text
    from textual_plotext.plot import Plot

    plt = Plot()
    plt.plotsize(width, height)
    plt._set_size(width, height)  # as PlotextPlot.render does (textual-plotext issue 5)
    plt.theme("clear")
    _plot_series(plt, series, title)
    return Text.from_ansi(plt.build())


class RenderedPlot(Static):
    """Shows a plot a worker drew with :func:`draw_lines`; the UI thread only paints text."""

    DEFAULT_CSS = "RenderedPlot { width: 1fr; height: 1fr; text-wrap: nowrap; text-overflow: clip; }"

    def draw_size(self) -> tuple[int, int]:
        return max(self.size.width, 20), max(self.size.height, 6)
