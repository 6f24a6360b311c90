"""The score chart of a run report, as inline SVG: every candidate's score per iteration
(validation filled, minibatch hollow, the winner ringed) and the best validation score after
each iteration as a line. Geometry here; the markup is ``templates/chart.svg.j2`` (autoescaped,
so a candidate id or origin can never become markup). No script, no external reference.
"""

from __future__ import annotations

from dataclasses import dataclass

from .report import RunReport

WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 40


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    split: str
    winner: bool
    title: str


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    top: int
    right: int  # x of the plot's right edge
    bottom: int  # y of the plot's bottom edge
    dots: tuple[Dot, ...]
    line: str  # SVG polyline points of the best score per iteration ("" when none)
    marks: tuple[Dot, ...]  # the line's points
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    lowest: float  # the score at the bottom edge (0, or lower when a score is negative)
    highest: float


def chart(report: RunReport) -> Chart:
    """The chart's geometry: x is the iteration, with a last column "end" for the scores taken
    after the last iteration (the finalists' validation); y is the score."""
    done = report.iterations
    iterations = [p.iteration for p in report.points] + [i for i, _s in report.best_by_iteration]
    first, last = min([*iterations, 1]), max([*iterations, done, 1])
    scores = [p.score for p in report.points] + [s for _i, s in report.best_by_iteration]
    lowest, highest = min([0.0, *scores]), max([1.0, *scores])
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP
    band = (x1 - x0) / (last - first + 1)

    def x_of(iteration: float) -> float:
        return x0 + band * (iteration - first + 0.5)

    def y_of(score: float) -> float:
        return y0 - (score - lowest) / (highest - lowest) * (y0 - y1)

    by_iteration: dict[int, list] = {}
    for p in report.points:
        by_iteration.setdefault(p.iteration, []).append(p)
    dots = []
    for iteration, points in sorted(by_iteration.items()):
        spread = min(10.0, band * 0.8 / max(len(points), 1))  # side by side within the iteration's band
        for k, p in enumerate(points):
            offset = (k - (len(points) - 1) / 2) * spread
            title = f"{p.candidate_id} ({p.origin or 'candidate'}): {p.split} score {p.score:.3f}, iteration {p.iteration}"
            dots.append(Dot(round(x_of(iteration) + offset, 1), round(y_of(p.score), 1), p.split, p.winner,
                            title + (" — the best" if p.winner else "")))
    line = " ".join(f"{x_of(i):.1f},{y_of(s):.1f}" for i, s in report.best_by_iteration)
    marks = tuple(Dot(round(x_of(i), 1), round(y_of(s), 1), "best", False, f"best score after iteration {i}: {s:.3f}")
                  for i, s in report.best_by_iteration)
    step = max(1, (last - first + 1) // 12)
    x_ticks = tuple(Tick(round(x_of(i), 1), "end" if i > done else str(i)) for i in range(first, last + 1, step))
    y_ticks = tuple(Tick(round(y_of(v), 1), f"{v:g}") for v in _levels(lowest, highest))
    return Chart(WIDTH, HEIGHT, x0, y1, x1, y0, tuple(dots), line, marks, x_ticks, y_ticks, lowest, highest)


def _levels(lowest: float, highest: float) -> list[float]:
    step = (highest - lowest) / 4
    return [round(lowest + step * k, 3) for k in range(5)]
