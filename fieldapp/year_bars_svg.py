"""A year beside the previous year as horizontal bars, drawn on the server as SVG (no script; the page's table
holds the same numbers). Foundation: no fieldapp imports."""

from __future__ import annotations

from typing import Sequence

from markupsafe import Markup, escape

WIDTH = 360
BAR_H = 12
ROW_H = 52


def render(rows: Sequence[tuple[str, float, float]], *, chart_id: str, title: str, this_label: str,
           previous_label: str, fmt=lambda v: f"{v:g}") -> Markup:
    """rows: (label, this year, previous year). Each row: its label, then this year's bar and last year's."""
    top = max([max(a, b) for _l, a, b in rows] + [0]) or 1
    plot_w = WIDTH - 70
    height = 34 + ROW_H * len(rows)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="year-bars" id="{escape(chart_id)}" '
             f'viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{escape(chart_id)}-title" focusable="false">',
             f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
             f'<g class="legend"><rect class="bar-this" x="0" y="4" width="12" height="12"/>'
             f'<text x="18" y="15">{escape(this_label)}</text>'
             f'<rect class="bar-previous" x="110" y="4" width="12" height="12"/>'
             f'<text x="128" y="15">{escape(previous_label)}</text></g>']
    for i, (label, this, previous) in enumerate(rows):
        y = 34 + i * ROW_H
        parts.append(f'<text class="bar-label" x="0" y="{y + 12}">{escape(label[:44])}</text>')
        for j, (value, css) in enumerate(((this, "bar-this"), (previous, "bar-previous"))):
            w = plot_w * value / top
            by = y + 18 + j * (BAR_H + 4)
            parts.append(f'<rect class="{css}" x="0" y="{by}" width="{w:.1f}" height="{BAR_H}"/>')
            parts.append(f'<text class="bar-value" x="{w + 4:.1f}" y="{by + BAR_H}">{escape(fmt(value))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
