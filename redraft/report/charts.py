"""Inline SVG charts drawn in Python: bars with interval whiskers, lines over weeks (pure).

No scripts, fonts or stylesheets from anywhere: the SVG text goes straight into the HTML.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape

PALETTE = ("#3b6ea8", "#d9822b", "#3f9a5b", "#b5446e", "#7a5cb8", "#8c8c3a", "#2f9aa5")
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 30, 54
Formatter = Callable[[float], str]


def colour(index: int) -> str:
    """The series colour for position `index`."""
    return PALETTE[index % len(PALETTE)]


def _svg(title: str, body: list[str], height: int = HEIGHT) -> str:
    label = escape(title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-label="{label}" class="chart">'
        f"<title>{label}</title>"
        f'<text x="{LEFT}" y="18" class="chart-title">{label}</text>' + "".join(body) + "</svg>"
    )


def nice_ticks(ymin: float, ymax: float, most: int = 5) -> list[float]:
    """Round axis ticks from `ymin` up to at least `ymax`: steps of 1, 2 or 5 times a power of
    ten, at most `most` gaps.

    >>> nice_ticks(1, 5), nice_ticks(0, 0.885), nice_ticks(0, 0.29)
    ([1.0, 2.0, 3.0, 4.0, 5.0], [0.0, 0.2, 0.4, 0.6, 0.8, 1.0], [0.0, 0.1, 0.2, 0.3])
    """
    span = (ymax - ymin) or 1.0
    raw = span / most
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw - 1e-12)
    gaps = math.ceil(span / step - 1e-9)
    return [round(ymin + i * step, 10) for i in range(gaps + 1)]


def _axis(ymin: float, ymax: float, fmt: Formatter, height: int) -> tuple[list[str], Callable]:
    bottom = height - BOTTOM
    ticks = nice_ticks(ymin, ymax)
    top = ticks[-1]

    def y(value: float) -> float:
        span = (top - ymin) or 1.0
        return bottom - (value - ymin) / span * (bottom - TOP)

    parts = []
    for value in ticks:
        py = y(value)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{py:.1f}" y2="{py:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end" class="tick">'
            f"{escape(fmt(value))}</text>"
        )
    return parts, y


def bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    ymin: float,
    ymax: float,
    fmt: Formatter,
) -> str:
    """One bar per label with a 95% interval whisker; missing values leave an empty slot."""
    body, y = _axis(ymin, ymax, fmt, HEIGHT)
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    bar = min(72.0, slot * 0.6)
    for i, label in enumerate(labels):
        cx = LEFT + slot * (i + 0.5)
        value = values[i]
        if value is not None:
            top = y(value)
            body.append(
                f'<rect x="{cx - bar / 2:.1f}" y="{top:.1f}" width="{bar:.1f}" '
                f'height="{max(0.0, y(ymin) - top):.1f}" fill="{colour(i)}" class="bar">'
                f"<title>{escape(label)}: {escape(fmt(value))}</title></rect>"
                f'<text x="{cx + bar / 2 + 4:.1f}" y="{top + 12:.1f}" class="value">'
                f"{escape(fmt(value))}</text>"
            )
        low, high = lows[i], highs[i]
        if low is not None and high is not None:
            ylo, yhi = y(max(ymin, low)), y(min(ymax, high))
            body.append(
                f'<path d="M{cx:.1f} {ylo:.1f}V{yhi:.1f}M{cx - 8:.1f} {ylo:.1f}h16'
                f'M{cx - 8:.1f} {yhi:.1f}h16" class="whisker"/>'
            )
        body.append(
            f'<text x="{cx:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle" class="label">'
            f"{escape(label)}</text>"
        )
    return _svg(title, body)


def line_chart(
    title: str,
    xs: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    ymin: float,
    ymax: float,
    fmt: Formatter,
) -> str:
    """One line per series over `xs` (weeks); a missing point breaks the line."""
    body, y = _axis(ymin, ymax, fmt, HEIGHT)
    step = (WIDTH - LEFT - RIGHT) / max(1, len(xs))

    def x(i: int) -> float:
        return LEFT + step * (i + 0.5)

    every = max(1, len(xs) // 8)
    for i, label in enumerate(xs):
        if i % every == 0:
            body.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle" '
                f'class="label">{escape(label)}</text>'
            )
    for s, (name, points) in enumerate(series.items()):
        path, pen_down = [], False
        for i, value in enumerate(points):
            if value is None:
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{x(i):.1f} {y(value):.1f}")
            pen_down = True
            body.append(
                f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="3" fill="{colour(s)}">'
                f"<title>{escape(name)} {escape(xs[i])}: {escape(fmt(value))}</title></circle>"
            )
        if path:
            body.append(f'<path d="{"".join(path)}" stroke="{colour(s)}" class="line"/>')
    body.extend(_legend(list(series), HEIGHT - 14))
    return _svg(title, body)


def grouped_bar_chart(
    title: str,
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    ymax: float,
    fmt: Formatter,
) -> str:
    """Bars for each series side by side within each group (issue tags x versions)."""
    body, y = _axis(0.0, ymax, fmt, HEIGHT)
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(groups))
    width = slot * 0.8 / max(1, len(series))
    for g, group in enumerate(groups):
        start = LEFT + slot * g + slot * 0.1
        for s, (name, values) in enumerate(series.items()):
            top = y(values[g])
            body.append(
                f'<rect x="{start + s * width:.1f}" y="{top:.1f}" width="{width:.1f}" '
                f'height="{y(0.0) - top:.1f}" fill="{colour(s)}" class="bar">'
                f"<title>{escape(name)} {escape(group)}: {escape(fmt(values[g]))}</title></rect>"
            )
        body.append(
            f'<text x="{LEFT + slot * (g + 0.5):.1f}" y="{HEIGHT - BOTTOM + 16}" '
            f'text-anchor="middle" class="label small">{escape(group)}</text>'
        )
    body.extend(_legend(list(series), HEIGHT - 14))
    return _svg(title, body)


def _legend(names: Sequence[str], y: float) -> list[str]:
    parts, x = [], float(LEFT)
    for i, name in enumerate(names):
        parts.append(
            f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{colour(i)}"/>'
            f'<text x="{x + 14:.1f}" y="{y:.1f}" class="legend">{escape(name)}</text>'
        )
        x += 24 + 7 * len(name)
    return parts
