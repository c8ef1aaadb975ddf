"""The Done screen's scoring as Rich text: the confusion matrix as a table that fits the width it gets (80
columns: numbers, the diagonal in bold), a heat-map where the terminal is wider (each cell coloured by its share
of the true class's records: green on the diagonal, red off it; the numbers stay, so nothing is said by colour
alone), the most confused pairs when the classes are too many for the width, and the most confident mistakes
by file name.  The table's layout is :mod:`tunewiz.infer.report`'s, as ``tunewiz test --confusion`` prints it.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.text import Text

from tunewiz.infer.report import class_lines, matrix_layout, matrix_lines, pair_lines

HEAT_WIDTH = 100  # terminals at least this wide get the heat-map


def _rgb(low: tuple, high: tuple, share: float) -> str:
    r, g, b = (int(lo + (hi - lo) * share) for lo, hi in zip(low, high))
    return f"rgb({r},{g},{b})"


def heat_style(share: float, right: bool) -> str:
    """A cell's colours: brighter as its share of the row grows; none for an empty cell."""
    if share <= 0:
        return ""
    low, high = ((20, 70, 30), (40, 190, 70)) if right else ((90, 25, 25), (220, 50, 50))
    return f"bold white on {_rgb(low, high, min(share, 1.0))}"


def summary(score) -> str:
    ev = score.evaluation
    sc = ev.scores
    hits = dict(sc.top_k_hits)
    tops = ", ".join(f"top-{k} {v:.4f} ({hits[k]}/{sc.count})" for k, v in sc.top_k)
    return f"{Path(score.model).name} on the {ev.counted} validation records: {tops}"


def matrix_text(score, width: int, heat: bool) -> Text:
    """The matrix (heat-map when ``heat``), or the most confused pairs when it cannot fit ``width``."""
    sc, names = score.evaluation.scores, list(score.names)
    margin = 2 if heat else 0  # a heat-map cell is wider: the colour needs room around the number
    layout = matrix_layout(sc, names, width - margin * sc.classes)
    if layout is None:
        return Text("\n".join([f"{sc.classes} classes: the most confused pairs (records, share of the true class, "
                               "true -> predicted)", *pair_lines(sc, names)]))
    layout = replace(layout, cell=layout.cell + margin)
    lines = matrix_lines(layout)
    text = Text(lines[0] + "\n")
    for t, (label, row) in enumerate(zip(layout.labels, layout.counts)):
        text.append(label.ljust(layout.label_width))
        total = sum(row) or 1
        for p, n in enumerate(row):
            cell = (f"{n} " if heat else str(n)).rjust(layout.cell)
            style = heat_style(n / total, t == p) if heat else ("bold" if t == p else "")
            text.append(cell, style=style)
        text.append("\n")
    text.append("rows: true class, columns: predicted" + (" · colour: share of the true class's records, green "
                                                          "right, red confused" if heat else ""))
    return text


def classes_text(score) -> str:
    return "\n".join(class_lines(score.evaluation.scores, list(score.names)))


def mistakes_text(score, limit: int = 8) -> str:
    """The most confident mistakes: confidence, true -> predicted, the image's file name."""
    names = score.names
    mistakes = score.evaluation.scores.mistakes[:limit]
    if not mistakes:
        return "No mistakes: every validation record was predicted right."
    lines = ["The most confident mistakes (confidence, true -> predicted, file):"]
    for m in mistakes:
        lines.append(f"  {m.confidence:.4f}  {names[m.true]} -> {names[m.predicted]}  {m.file}")
    return "\n".join(lines)
