"""Plots drawn with textual-plotext (imported only when a plot is first shown).

Series are told apart by marker and legend text, never by colour alone.
"""
from __future__ import annotations

from textual_plotext import PlotextPlot


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
        for label, xs, ys, marker in series:
            if xs:
                plt.plot(xs, ys, label=label, marker=marker)
        plt.title(title)
        plt.xlabel("iteration")
        if ylabel:
            plt.ylabel(ylabel)
        self.refresh()
