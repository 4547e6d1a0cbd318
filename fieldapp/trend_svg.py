"""A line chart as plain SVG, drawn on the server: labelled axes, a title and a description, no script.

The page puts the same numbers in a table beside it (the text alternative); this module only draws.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 260
NARROW_WIDTH, NARROW_HEIGHT = 300, 220  # drawn 1:1 on a 320-390 px phone, so 15 px text stays 14-18 px
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 64
CHAR_PX = 9  # width of a tick label character at the stylesheet's 15 px


def nice_step(value: float, count: int = 4) -> float:
    """A round tick step (1, 2 or 5 x 10^n, at least 1) so that count steps reach value."""
    if value <= 0:
        return 1
    raw = value / count
    power = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    for step in (1, 2, 5, 10):
        if raw <= step * power:
            return max(1, step * power)
    return 10 * power


def y_ticks(value: float, count: int = 4) -> list[float]:
    """Tick values from 0 to a round top at or above value."""
    step = nice_step(value, count)
    steps = max(1, math.ceil(value / step))
    return [step * i for i in range(steps + 1)]


def x_tick_indexes(n: int, wanted: int = 5) -> list[int]:
    """Which of n points get a time label: evenly spread, first and last included."""
    if n <= wanted:
        return list(range(n))
    return sorted({round(i * (n - 1) / (wanted - 1)) for i in range(wanted)})


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def render(points: Sequence[tuple[datetime, float]], *, chart_id: str, title: str, description: str,
           x_label: str, y_label: str, x_tick: Callable[[datetime], str],
           y_tick: Callable[[float], str] = lambda v: _fmt(v), point_label: Callable[[datetime, float], str] | None = None,
           width: int = WIDTH, height: int = HEIGHT, css_class: str = "") -> Markup:
    """SVG markup of values over time; the title and description name it for screen readers (role=img)."""
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    ticks = y_ticks(max((v for _t, v in points), default=0))
    top = ticks[-1]
    n = len(points)

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * value / top

    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{escape(("trend-chart " + css_class).strip())}" id="{escape(chart_id)}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="{title_id} {desc_id}" focusable="false">',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<desc id="{desc_id}">{escape(description)}</desc>',
        '<g class="grid" aria-hidden="true">',
    ]
    for value in ticks:
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}"/>')
    parts.append("</g>")
    parts.append('<g class="axis" aria-hidden="true">')
    parts.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}"/>')
    parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>')
    for value in ticks:
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end">'
                     f"{escape(y_tick(value))}</text>")
    longest = max((len(x_tick(at)) for at, _v in points), default=1)
    indexes = x_tick_indexes(n, max(2, min(6, int(plot_w / (longest * 7 + 24)))))  # labels ~7 px a character
    for i in indexes:
        # The outermost labels lean inwards so that long dates stay inside the picture.
        anchor = "start" if i == 0 and n > 1 else ("end" if i == n - 1 and n > 1 else "middle")
        parts.append(f'<line x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 5}"/>')
        parts.append(f'<text class="tick" x="{x(i):.1f}" y="{TOP + plot_h + 20}" text-anchor="{anchor}">'
                     f"{escape(x_tick(points[i][0]))}</text>")
    parts.append(f'<text class="axis-label" x="{LEFT + plot_w / 2:.1f}" y="{height - 10}" text-anchor="middle">'
                 f"{escape(x_label)}</text>")
    parts.append(f'<text class="axis-label" x="{-(TOP + plot_h / 2):.1f}" y="16" transform="rotate(-90)" '
                 f'text-anchor="middle">{escape(y_label)}</text>')
    parts.append("</g>")
    if n:
        coords = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, (_t, v) in enumerate(points))
        area = f"{x(0):.1f},{y(0):.1f} {coords} {x(n - 1):.1f},{y(0):.1f}"
        parts.append(f'<polygon class="trend-area" points="{area}" aria-hidden="true"/>')
        parts.append(f'<polyline class="trend-line" points="{coords}" aria-hidden="true"/>')
        parts.append('<g class="trend-points" aria-hidden="true">')
        for i, (at, value) in enumerate(points):
            label = point_label(at, value) if point_label else f"{x_tick(at)}: {y_tick(value)}"
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="3.5"><title>{escape(label)}</title></circle>')
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))


def render_for_screens(points: Sequence[tuple[datetime, float]], *, chart_id: str, **labels) -> Markup:
    """The chart drawn twice, wide for screens from 40rem up and narrow for phones (the stylesheet shows one):
    an SVG scales its text with its width, so one drawing cannot keep text readable on both."""
    return Markup(render(points, chart_id=chart_id, css_class="wide", **labels)
                  + render(points, chart_id=f"{chart_id}-narrow", css_class="narrow",
                           width=NARROW_WIDTH, height=NARROW_HEIGHT, **labels))
