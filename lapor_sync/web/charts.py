"""The geometry of the dashboard's charts, drawn as inline SVG by ``templates/_charts.html``.

No chart library and no script: a chart is a few rectangles or a polyline worked out here, so it
renders without JavaScript, prints, and stays readable to a screen reader through the data table
the template puts next to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 600
"""Width of a chart's drawing area, in SVG user units (it scales with the page)."""
HEIGHT = 160
"""Height of a column or line chart's plot, in SVG user units."""
ROW_HEIGHT = 22
"""Height of one bar of a row chart (one agency), in SVG user units."""
LABEL_WIDTH = 120
"""Room left of a row chart's bars for the agency codes, in SVG user units."""
TICK_EVERY = 7
"""A column chart labels its last column (today) and every seventh before it (a week apart)."""


@dataclass(frozen=True)
class Mark:
    """One column, row or line point: where it is drawn (SVG user units) and what it stands for.

    Attributes:
        x, y, width, height: the rectangle (a line point: ``x``, ``y`` only).
        label: the category (a day, an agency) as shown under or beside it.
        value: the number drawn.
        tick: whether the label is written on the axis (all rows; every :data:`TICK_EVERY` column).
    """

    x: float
    y: float
    width: float
    height: float
    label: str
    value: int
    tick: bool


@dataclass(frozen=True)
class Chart:
    """A chart ready to draw.

    Attributes:
        width, height: the SVG viewBox.
        top: the value at the top of the scale (the largest value; at least 1).
        marks: one per category, in order.
        points: the polyline of a line chart (``"x,y x,y ..."``), empty for bars.
        horizontal: rows (labels left of the bars) rather than columns (labels under them).
    """

    width: int
    height: int
    top: int
    marks: list[Mark]
    points: str
    horizontal: bool = False


def column_chart(labels: Sequence[str], values: Sequence[int], *, line: bool = False) -> Chart:
    """Columns (or, with ``line``, a line through the columns' tops) of ``values`` over ``labels``.

    Args:
        labels: one label per column (e.g. the day of the month).
        values: one value per column, not negative.
        line: draw a line (a backlog over time) rather than columns (counts per day).

    Returns:
        The chart, :data:`WIDTH` wide and :data:`HEIGHT` plus room for the labels high.
    """
    top = max([1, *values])
    step = WIDTH / max(1, len(values))
    marks = []
    for n, (label, value) in enumerate(zip(labels, values, strict=True)):
        height = HEIGHT * value / top
        tick = (len(values) - 1 - n) % TICK_EVERY == 0  # today, and a week back from it
        marks.append(Mark(n * step + step * 0.1, HEIGHT - height, step * 0.8, height, label, value, tick))
    points = " ".join(f"{m.x + m.width / 2:.1f},{m.y:.1f}" for m in marks) if line else ""
    return Chart(WIDTH, HEIGHT + 20, top, marks, points)


def row_chart(labels: Sequence[str], values: Sequence[int]) -> Chart:
    """Horizontal bars of ``values``, one row per label (e.g. overdue cases per agency).

    Args:
        labels: one label per row, written left of its bar.
        values: one value per row, not negative.

    Returns:
        The chart, :data:`WIDTH` wide and :data:`ROW_HEIGHT` per row high.
    """
    top = max([1, *values])
    room = WIDTH - LABEL_WIDTH - 40  # the value is written after the bar
    marks = [
        Mark(LABEL_WIDTH, n * ROW_HEIGHT + 3, room * value / top, ROW_HEIGHT - 6, label, value, True)
        for n, (label, value) in enumerate(zip(labels, values, strict=True))
    ]
    return Chart(WIDTH, max(1, len(marks)) * ROW_HEIGHT, top, marks, "", horizontal=True)
