"""A chart of a pupil's grades over the school year, as families see them: per month, the mean of the month's
scores as a percentage, drawn as a line of points in an SVG the server writes (no script, as the report's charts
are), with the same figures as a table. Pure: it takes the grades the caller may show (a family's visible ones,
:mod:`hub.records.visibility`) and reads nothing itself.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

#: The drawing's box (the SVG scales to its container): wide enough for ten months, short enough for a phone.
WIDTH = 400
HEIGHT = 200
#: Room for the axis's labels on the left and the months below.
LEFT = 36
BOTTOM = 24
TOP = 10


class Scored(Protocol):
    @property
    def assessed_on(self) -> dt.date: ...
    @property
    def score(self) -> Decimal | None: ...
    @property
    def max_score(self) -> Decimal: ...


@dataclass(frozen=True)
class Point:
    month: dt.date  #: the first day of the month
    percent: Decimal
    grades: int
    x: float
    y: float


@dataclass(frozen=True)
class Chart:
    points: tuple[Point, ...]
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)

    @staticmethod
    def y_of(percent: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - percent / 100)

    @property
    def gridlines(self) -> tuple[tuple[int, float], ...]:
        return tuple((p, self.y_of(p)) for p in (0, 50, 100))


def monthly(grades: Iterable[Scored]) -> Chart:
    """Per month with at least one score, the mean percentage (one decimal); months in order."""
    buckets: dict[dt.date, list[Decimal]] = defaultdict(list)
    for grade in grades:
        if grade.score is None or not grade.max_score:
            continue
        buckets[grade.assessed_on.replace(day=1)].append(Decimal(grade.score) * 100 / Decimal(grade.max_score))
    months = sorted(buckets)
    span = WIDTH - LEFT - 16
    points = []
    for i, month in enumerate(months):
        values = buckets[month]
        percent = (sum(values, Decimal(0)) / len(values)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        x = LEFT + 8 + (span * i / (len(months) - 1) if len(months) > 1 else span / 2)
        points.append(Point(month, percent, len(values), x, Chart.y_of(float(percent))))
    return Chart(tuple(points))


__all__ = ["Chart", "Point", "monthly"]
