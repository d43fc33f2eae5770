"""Charts of the coordinator's dashboard, drawn on the server as SVG.

No JavaScript and no library: a chart is a handful of rectangles and labels. Each is an image
for assistive technology (``role="img"``, a ``<title>`` and a ``<desc>`` that says what it
shows), and the page follows each with the table of its data, which is the accessible version.
Only attributes are used for geometry and colours come from classes of site.css: the
Content-Security-Policy forbids inline styles.

A figure hidden by statistical secrecy (``None``: fewer than 5 people) is drawn as no bar with
the words "< 5", never as zero."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

WIDTH = 400  # viewBox units; the SVG scales to its container (site.css)
LABEL_WIDTH = 175
ROW_HEIGHT = 26
BAR_HEIGHT = 16


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: suppressed (fewer than 5), drawn as "< 5"
    text: str  # the value as shown next to the bar ("40 %", "12")


def _n(value: float) -> str:
    """A coordinate (format_html escapes its arguments to strings first, so format here)."""
    return f"{value:.1f}"


def _suppressed() -> str:
    return _("< 5")


def _frame(chart_id: str, title: str, desc: str, height: int, body: SafeString) -> SafeString:
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        'aria-labelledby="{id}-title {id}-desc" class="chart-svg" focusable="false">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>{body}</svg>',
        w=WIDTH, h=height, id=chart_id, title=title, desc=desc, body=body,
    )


def _truncate(label: str, limit: int = 25) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def horizontal_bars(chart_id: str, *, title: str, bars: Sequence[Bar], maximum: float = 1.0,
                    alt: bool = False) -> SafeString:
    """One labelled bar per row, from 0 to ``maximum`` (a rate: 1.0)."""
    if not bars:
        return _frame(chart_id, title, _("Aucune donnée."), ROW_HEIGHT,
                      format_html('<text x="0" y="18">{}</text>', _("Aucune donnée.")))
    plot = WIDTH - LABEL_WIDTH - 50
    rows = []
    for i, bar in enumerate(bars):
        y = i * ROW_HEIGHT + 4
        length = 0.0 if bar.value is None or maximum <= 0 else max(min(bar.value / maximum, 1.0), 0.0) * plot
        shown = _suppressed() if bar.value is None else bar.text
        rows.append(format_html(
            '<text x="{lx}" y="{ty}" text-anchor="end">{label}</text>'
            '<rect class="{cls}" x="{x}" y="{y}" width="{bw}" height="{bh}"></rect>'
            '<text x="{vx}" y="{ty}">{value}</text>',
            lx=LABEL_WIDTH - 6, ty=y + 13, label=_truncate(bar.label), cls="bar-alt bar" if alt else "bar",
            x=LABEL_WIDTH, y=y, bw=_n(length), bh=BAR_HEIGHT, vx=_n(LABEL_WIDTH + length + 4), value=shown,
        ))
    axis = format_html('<line class="axis" x1="{x}" y1="0" x2="{x}" y2="{h}"></line>',
                       x=LABEL_WIDTH, h=len(bars) * ROW_HEIGHT + 4)
    desc = "; ".join(f"{bar.label} : {_suppressed() if bar.value is None else bar.text}" for bar in bars)
    return _frame(chart_id, title, desc, len(bars) * ROW_HEIGHT + 8, mark_safe("".join(rows)) + axis)


def columns(chart_id: str, *, title: str, bars: Sequence[Bar], x_label: str) -> SafeString:
    """A histogram: one column per bin, labelled under it, counts above it."""
    height, top, bottom = 190, 18, 40
    plot_h = height - top - bottom
    n = max(len(bars), 1)
    step = (WIDTH - 20) / n
    biggest = max((b.value or 0.0 for b in bars), default=0.0) or 1.0
    cols = []
    for i, bar in enumerate(bars):
        x = 10 + i * step
        h = 0.0 if bar.value is None else (bar.value / biggest) * plot_h
        shown = _suppressed() if bar.value is None else bar.text
        cols.append(format_html(
            '<rect class="bar" x="{x}" y="{y}" width="{w}" height="{h}"></rect>'
            '<text x="{cx}" y="{vy}" text-anchor="middle">{value}</text>'
            '<text x="{cx}" y="{ly}" text-anchor="middle" class="chart-small">{label}</text>',
            x=_n(x + 2), y=_n(top + plot_h - h), w=_n(max(step - 4, 1)), h=_n(h), cx=_n(x + step / 2),
            vy=_n(top + plot_h - h - 4), value=shown, ly=top + plot_h + 14, label=bar.label,
        ))
    base = format_html(
        '<line class="axis" x1="10" y1="{y}" x2="{x2}" y2="{y}"></line>'
        '<text x="{cx}" y="{ly}" text-anchor="middle">{x_label}</text>',
        y=top + plot_h, x2=WIDTH - 10, cx=_n(WIDTH / 2), ly=height - 6, x_label=x_label,
    )
    desc = "; ".join(f"{bar.label} : {_suppressed() if bar.value is None else bar.text}" for bar in bars)
    return _frame(chart_id, title, f"{x_label}. {desc}" if bars else _("Aucune donnée."), height,
                  format_html_join("", "{}", ((c,) for c in cols)) + base)
