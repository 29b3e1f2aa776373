"""Small server-side SVG charts: a line chart and a stacked bar chart, with axes, labels and values.

Pure functions returning markup; every text is escaped. No scripts, no fonts beyond the system's sans-serif.
"""

from html import escape

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"]
STATUS_COLORS = {
    "succeeded": "#16a34a",
    "sent": "#16a34a",
    "allow": "#16a34a",
    "failed": "#dc2626",
    "block": "#dc2626",
    "refunded": "#7c3aed",
    "review": "#d97706",
    "pending": "#9ca3af",
    "queued": "#9ca3af",
    "sending": "#0891b2",
    "dry_run": "#6b7280",
}
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 44, 34


def _color(name: str, index: int) -> str:
    return STATUS_COLORS.get(name, PALETTE[index % len(PALETTE)])


def _number(value: float) -> str:
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}" if float(value).is_integer() or abs(value) >= 10 else f"{value:.1f}"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 10 ** (len(str(int(value))) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        if value <= step * factor:
            return step * factor
    return step * 10


def _frame(*, title: str, width: int, height: int, y_max: float, unit: str, legend: list[tuple[str, str]]) -> list[str]:
    plot_h = height - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT}" y="16" font-size="14" font-weight="bold" fill="#111827">{escape(title)}</text>',
    ]
    x = LEFT
    for name, color in legend:  # the legend sits under the title, in the series' colours
        parts.append(f'<rect x="{x}" y="24" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{x + 14}" y="33" fill="#374151">{escape(name)}</text>')
        x += 22 + 7 * len(name)
    for step in range(5):
        value = y_max * step / 4
        y = TOP + plot_h - plot_h * step / 4
        parts.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#4b5563">{_number(value)}{escape(unit)}</text>'
        )
    parts.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#9ca3af"/>')
    parts.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" stroke="#9ca3af"/>')
    return parts


def _x_labels(labels: list[str], centers: list[float], baseline: float, max_labels: int = 12) -> list[str]:
    every = max(1, -(-len(labels) // max_labels))
    return [
        f'<text x="{x:.1f}" y="{baseline + 16:.1f}" text-anchor="middle" fill="#4b5563">{escape(label)}</text>'
        for index, (label, x) in enumerate(zip(labels, centers, strict=True))
        if index % every == 0
    ]


def _empty(parts: list[str], width: int, height: int) -> None:
    parts.append(
        f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" fill="#6b7280">no data in this period</text>'
    )


def line_chart(
    *,
    title: str,
    labels: list[str],
    series: dict[str, list[float | None]],
    unit: str = "",
    y_max: float | None = None,
    width: int = 960,
    height: int = 240,
) -> str:
    """One line per series over shared x labels; gaps (None) break the line. The legend shows each latest value."""
    values = [v for points in series.values() for v in points if v is not None]
    top = y_max if y_max is not None else _nice_max(max(values, default=0))
    colors = [_color(name, index) for index, name in enumerate(series)]
    legend = []  # the legend names each series with its latest value
    for (name, points), color in zip(series.items(), colors, strict=True):
        last = next((value for value in reversed(points) if value is not None), None)
        legend.append((name if last is None else f"{name} {_number(last)}{unit}", color))
    parts = _frame(title=title, width=width, height=height, y_max=top, unit=unit, legend=legend)
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    count = len(labels)
    xs = [LEFT + (plot_w * (i + 0.5) / count) for i in range(count)] if count else []
    if not values:
        _empty(parts, width, height)
    for color, points in zip(colors, series.values(), strict=True):
        runs = [[]]
        for x, value in zip(xs, points, strict=True):
            if value is None:
                runs.append([])
            else:
                runs[-1].append((x, TOP + plot_h - plot_h * min(value, top) / top))
        for run in (run for run in runs if run):
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
            for x, y in run if len(run) <= 48 else []:
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>')
    parts += _x_labels(labels, xs, TOP + plot_h)
    parts.append("</svg>")
    return "".join(parts)


def stacked_bar_chart(
    *,
    title: str,
    labels: list[str],
    series: dict[str, list[float]],
    unit: str = "",
    width: int = 960,
    height: int = 240,
) -> str:
    """One bar per label, the series stacked in order; each bar's total is printed above it when there is room."""
    totals = [sum(points[i] for points in series.values()) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    legend = [(name, _color(name, index)) for index, name in enumerate(series)]
    parts = _frame(title=title, width=width, height=height, y_max=top, unit=unit, legend=legend)
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    count = len(labels)
    slot = plot_w / count if count else plot_w
    bar = max(1.0, slot * 0.7)
    centers = [LEFT + slot * (i + 0.5) for i in range(count)]
    if not any(totals):
        _empty(parts, width, height)
    for i, x in enumerate(centers):
        y = TOP + plot_h
        for (name, color), points in zip(legend, series.values(), strict=True):
            h = plot_h * points[i] / top
            if h <= 0:
                continue
            y -= h
            parts.append(
                f'<rect x="{x - bar / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{color}">'
                f"<title>{escape(labels[i])} {escape(name)}: {_number(points[i])}{escape(unit)}</title></rect>"
            )
        if totals[i] and slot >= 22:
            parts.append(
                f'<text x="{x:.1f}" y="{y - 3:.1f}" text-anchor="middle" fill="#111827">{_number(totals[i])}</text>'
            )
    parts += _x_labels(labels, centers, TOP + plot_h)
    parts.append("</svg>")
    return "".join(parts)
