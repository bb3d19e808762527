"""Charts drawn on the server as inline SVG: no script, no network, readable without colour.

Every chart says its numbers in text (value labels, axis labels, a legend with line styles and
markers), so a reader with no colour vision, or a printout, loses nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

from markupsafe import Markup

WIDTH = 960
ROW = 30
LABEL = 200
#: Marker and dash per series, in order: shape and line style tell the series apart.
_STYLES = (("circle", ""), ("square", "6 4"), ("diamond", "2 3"))


def _percent(ratio: Decimal) -> str:
    return f"{ratio * 100:.1f}%"


def burn_bars(rows: Sequence[tuple[str, Decimal]], target: Decimal, title: str) -> Markup:
    """One horizontal bar per provider: fund paid ÷ budget, against the straight-line target
    for the date (a dashed line labelled with its value)."""
    plot = WIDTH - LABEL - 80
    scale = max([Decimal(1), target, *(ratio for _, ratio in rows)])
    height = ROW * len(rows) + 50
    x_target = LABEL + float(target / scale) * plot
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (label, ratio) in enumerate(rows):
        y = 10 + i * ROW
        length = float(ratio / scale) * plot
        over = ratio > target
        parts.append(
            f'<text x="{LABEL - 8}" y="{y + 18}" text-anchor="end">{escape(label)}</text>'
            f'<rect class="{"bar over" if over else "bar"}" x="{LABEL}" y="{y + 4}" '
            f'width="{length:.1f}" height="{ROW - 10}"/>'
            f'<text x="{LABEL + length + 6:.1f}" y="{y + 18}">{_percent(ratio)}'
            f"{' ▲ ahead of target' if over else ''}</text>"
        )
    bottom = 10 + ROW * len(rows)
    parts.append(
        f'<line class="target" x1="{x_target:.1f}" y1="4" x2="{x_target:.1f}" y2="{bottom}"/>'
        f'<text x="{x_target:.1f}" y="{bottom + 18}" text-anchor="middle">'
        f"straight-line target {_percent(target)}</text></svg>"
    )
    return Markup("".join(parts))


def columns(points: Sequence[tuple[str, int]], title: str, unit: str) -> Markup:
    """Vertical bars with their value above each, e.g. settlements per day."""
    height, base, top = 260, 220, 30
    step = (WIDTH - 60) / max(len(points), 1)
    peak = max([1, *(value for _, value in points)])
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<line class="axis" x1="40" y1="{base}" x2="{WIDTH - 10}" y2="{base}"/>'
        f'<text x="4" y="{top - 10}">{escape(unit)}</text>'
    ]
    for i, (label, value) in enumerate(points):
        x = 40 + i * step
        bar = (base - top) * value / peak
        parts.append(
            f'<rect class="bar" x="{x + 2:.1f}" y="{base - bar:.1f}" '
            f'width="{max(step - 4, 1):.1f}" height="{bar:.1f}"/>'
            f'<text class="small" x="{x + step / 2:.1f}" y="{base - bar - 4:.1f}" '
            f'text-anchor="middle">{value}</text>'
        )
        if len(points) <= 16 or i % max(len(points) // 8, 1) == 0:
            parts.append(
                f'<text class="small" x="{x + step / 2:.1f}" y="{base + 16}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    values: Sequence[Decimal]


@dataclass(frozen=True, slots=True)
class Band:
    """A horizontal threshold drawn across the chart, e.g. the budget or its corridor."""

    label: str
    value: Decimal


def lines(
    x_labels: Sequence[str],
    series: Sequence[Series],
    bands: Sequence[Band],
    title: str,
) -> Markup:
    """Cumulative series as lines with a distinct marker and dash each, the bands as labelled
    dotted rules, and a legend naming every line by its style."""
    height, base, top, left, right = 340, 290, 20, 110, WIDTH - 170
    peak = max([Decimal(1), *(b.value for b in bands), *(v for s in series for v in s.values)])
    step = (right - left) / max(len(x_labels) - 1, 1)

    def y(value: Decimal) -> float:
        return base - float(value / peak) * (base - top)

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height + 20 * len(series)}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<line class="axis" x1="{left}" y1="{base}" x2="{right}" y2="{base}"/>'
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{base}"/>'
        f'<text class="small" x="{left - 6}" y="{base}" text-anchor="end">0</text>'
    ]
    for i, label in enumerate(x_labels):
        parts.append(
            f'<text class="small" x="{left + i * step:.1f}" y="{base + 16}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    for band in bands:
        parts.append(
            f'<line class="band" x1="{left}" y1="{y(band.value):.1f}" x2="{right}" '
            f'y2="{y(band.value):.1f}"/><text class="small" x="{right + 6}" '
            f'y="{y(band.value) + 4:.1f}">{escape(band.label)}</text>'
        )
    for n, line in enumerate(series):
        marker, dash = _STYLES[n % len(_STYLES)]
        coords = [(left + i * step, y(v)) for i, v in enumerate(line.values)]
        path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
        parts.append(f'<polyline class="series s{n}" points="{path}" stroke-dasharray="{dash}"/>')
        parts.extend(_marker(marker, cx, cy, n) for cx, cy in coords)
        ly = height + 20 * n
        parts.append(
            f'<line class="series s{n}" x1="{left}" y1="{ly - 4}" x2="{left + 40}" '
            f'y2="{ly - 4}" stroke-dasharray="{dash}"/>{_marker(marker, left + 20, ly - 4, n)}'
            f'<text x="{left + 50}" y="{ly}">{escape(line.label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _marker(shape: str, x: float, y: float, n: int) -> str:
    if shape == "circle":
        return f'<circle class="marker s{n}" cx="{x:.1f}" cy="{y:.1f}" r="4"/>'
    if shape == "square":
        return f'<rect class="marker s{n}" x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8"/>'
    return (
        f'<polygon class="marker s{n}" points="{x:.1f},{y - 5:.1f} {x + 5:.1f},{y:.1f} '
        f'{x:.1f},{y + 5:.1f} {x - 5:.1f},{y:.1f}"/>'
    )
