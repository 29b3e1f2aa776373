"""Small server-side SVG charts on a real time axis: a line chart and a stacked bar chart.

Pure functions returning markup; every text is escaped. No scripts, no fonts beyond the system's sans-serif.
A chart has a ``viewBox`` and no fixed size, so it scales to its box (the page's CSS gives it ``width: 100%``).
Texts, gridlines and axes are drawn in ``currentColor``, so they follow the page's text colour in light and
dark mode; only the series have colours of their own.

The y axis has round ticks (``y_ticks``: whole numbers for counts), the x axis ticks at round hours or days
of the display time zone (``time_ticks``), labelled in the one date style's zone.
"""

import math
from datetime import UTC, datetime, timedelta
from html import escape

from django.utils import timezone

from echopilot.timefmt import moment_format

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#64748b"]
STATUS_COLORS = {
    "succeeded": "#16a34a",
    "sent": "#16a34a",
    "allow": "#16a34a",
    "failed": "#dc2626",
    "block": "#dc2626",
    "refunded": "#7c3aed",
    "review": "#d97706",
    "pending": "#94a3b8",
    "queued": "#94a3b8",
    "sending": "#0891b2",
    "dry_run": "#64748b",
}
# The drawing's own units: 440 wide with 12-unit text reads at about 10 px on a phone (358 px) and at
# about 17 px in half of a desktop page.
WIDTH, HEIGHT = 440, 210
LEFT, RIGHT, BOTTOM = 44, 14, 28
LEGEND_TOP, LEGEND_ROW = 34, 16
CHAR = 6.8  # the width of an average character of the 12-unit sans-serif text
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
TIME_STEPS = [HOUR * n for n in (1, 2, 3, 4, 6, 12)] + [DAY * n for n in (1, 2, 7)]


def _color(name: str, index: int) -> str:
    return STATUS_COLORS.get(name, PALETTE[index % len(PALETTE)])


def _number(value: float) -> str:
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k".replace(".0k", "k")
    return f"{value:.0f}" if float(value).is_integer() or abs(value) >= 10 else f"{value:.1f}"


def y_ticks(top: float, *, whole: bool = True, most: int = 5) -> list[float]:
    """Round ticks from 0 up to at least ``top``: steps of 1, 2, 2.5 or 5 × 10^k, at most ``most`` steps.

    ``whole`` (counts) allows only whole-number steps: ``y_ticks(3)`` is 0 1 2 3, ``y_ticks(50)``
    0 10 20 30 40 50, never 0 12 25 38 50 or 0.25 steps. An empty chart (top 0) gets 0 and 1.
    """
    top = top if top > 0 else 1
    raw = top / most
    exponent = math.floor(math.log10(raw))
    step = 10.0 ** (exponent + 1)
    for factor in (1, 2, 2.5, 5, 10):
        candidate = factor * 10.0**exponent
        if whole and (candidate < 1 or not candidate.is_integer()):
            continue
        if candidate >= raw * (1 - 1e-9):
            step = candidate
            break
    count = max(1, math.ceil(top / step - 1e-9))
    if whole:
        return [int(step) * i for i in range(count + 1)]
    return [round(step * i, 10) for i in range(count + 1)]


def time_ticks(start: datetime, end: datetime, *, most: int = 8) -> list[tuple[datetime, str]]:
    """Ticks at round hours (1, 2, 3, 4, 6, 12) or days of the display time zone within [start, end].

    The step is the smallest that gives at most ``most`` ticks. An hour tick reads "14:00"; a tick at
    local midnight, and every day tick, reads "Sun 29".
    """
    step = next((step for step in TIME_STEPS if (end - start) / step <= most), TIME_STEPS[-1])
    quarter = timedelta(minutes=15)  # every zone's offset is a whole number of quarter hours
    moment = datetime.fromtimestamp(math.ceil(start.timestamp() / 900) * 900, tz=UTC)
    ticks = []
    while moment <= end:
        local = timezone.localtime(moment)
        if local.minute == 0 and _on_step(local, step):
            midnight = local.hour == 0
            ticks.append((moment, f"{local:%a %d}" if midnight else f"{local:%H:%M}"))
        moment += quarter
    return ticks


def _on_step(local: datetime, step: timedelta) -> bool:
    if step < DAY:
        return local.hour % (step // HOUR) == 0
    return local.hour == 0 and local.toordinal() % step.days == 0


class _Frame:
    """The drawing's frame: title, legend, y ticks and gridlines, the x axis from ``start`` to ``end``."""

    def __init__(self, *, title: str, start: datetime, end: datetime, ticks: list[float], unit: str, legend):
        self.start, self.end, self.top = start, end, ticks[-1] or 1
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            f'aria-label="{escape(title)}" font-family="sans-serif" font-size="12" fill="currentColor">',
            f"<title>{escape(title)}</title>",
            f'<text x="{LEFT}" y="16" font-size="14" font-weight="bold">{escape(title)}</text>',
        ]
        x, row = LEFT, 0
        for name, color in legend:  # the legend sits under the title, in the series' colours, wrapping
            name = name.replace("_", " ")  # codes read as words: dry_run → dry run
            width = 22 + CHAR * len(name)
            if x > LEFT and x + width > WIDTH - RIGHT:
                x, row = LEFT, row + 1
            y = LEGEND_TOP + row * LEGEND_ROW
            self.parts.append(f'<rect x="{x:.0f}" y="{y - 9}" width="10" height="10" fill="{color}"/>')
            self.parts.append(f'<text x="{x + 14:.0f}" y="{y}">{escape(name)}</text>')
            x += width
        self.plot_top = LEGEND_TOP + row * LEGEND_ROW + 14
        self.plot_h = HEIGHT - self.plot_top - BOTTOM
        self.plot_w = WIDTH - LEFT - RIGHT
        self.baseline = self.plot_top + self.plot_h
        for value in ticks:
            y = self.y(value)
            self.parts.append(
                f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="currentColor" '
                'stroke-opacity="0.15"/>'
            )
            self.parts.append(
                f'<text x="{LEFT - 5}" y="{y + 4:.1f}" text-anchor="end" fill-opacity="0.8">'
                f"{_number(value)}{escape(unit)}</text>"
            )
        axis = 'stroke="currentColor" stroke-opacity="0.45"'
        self.parts.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{self.plot_top}" y2="{self.baseline}" {axis}/>')
        self.parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{self.baseline}" y2="{self.baseline}" {axis}/>')
        free = 0.0  # where the previous label ends: a label that would overlap it is left out, its tick stays
        for moment, label in time_ticks(start, end):
            x = self.x(moment)
            self.parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{self.baseline}" y2="{self.baseline + 4}" {axis}/>')
            width = CHAR * len(label)  # centred under its tick, unless that would leave the drawing
            anchor = "start" if x < width / 2 else "end" if x + width / 2 > WIDTH else "middle"
            left = x if anchor == "start" else x - width if anchor == "end" else x - width / 2
            if left < free:
                continue
            free = left + width + 6
            self.parts.append(
                f'<text x="{x:.1f}" y="{self.baseline + 16}" text-anchor="{anchor}" fill-opacity="0.8">'
                f"{escape(label)}</text>"
            )

    def x(self, moment: datetime) -> float:
        return LEFT + self.plot_w * ((moment - self.start) / (self.end - self.start))

    def y(self, value: float) -> float:
        return self.baseline - self.plot_h * min(value, self.top) / self.top

    def empty(self) -> None:
        self.parts.append(
            f'<text x="{WIDTH / 2:.0f}" y="{self.plot_top + self.plot_h / 2:.0f}" text-anchor="middle" '
            'fill-opacity="0.7">no data in this period</text>'
        )

    def markup(self) -> str:
        return "".join([*self.parts, "</svg>"])


def line_chart(
    *,
    title: str,
    start: datetime,
    end: datetime,
    series: dict[str, list[tuple[datetime, float | None]]],
    unit: str = "",
    y_max: float | None = None,
    whole: bool = False,
) -> str:
    """One line per series over the time axis [start, end]; gaps (None) break the line.

    The legend shows each series' latest value; ``y_max`` fixes the top (100 for percentages).
    """
    values = [value for points in series.values() for _, value in points if value is not None]
    ticks = y_ticks(y_max if y_max is not None else max(values, default=0), whole=whole)
    colors = [_color(name, index) for index, name in enumerate(series)]
    legend = []
    for (name, points), color in zip(series.items(), colors, strict=True):
        last = next((value for _, value in reversed(points) if value is not None), None)
        legend.append((name if last is None else f"{name} {_number(last)}{unit}", color))
    frame = _Frame(title=title, start=start, end=end, ticks=ticks, unit=unit, legend=legend)
    if not values:
        frame.empty()
    for color, points in zip(colors, series.values(), strict=True):
        runs = [[]]
        for moment, value in points:
            if value is None:
                runs.append([])
            else:
                runs[-1].append((frame.x(moment), frame.y(value)))
        for run in (run for run in runs if run):
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            frame.parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
            for x, y in run if len(run) <= 48 else []:
                frame.parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>')
    return frame.markup()


def stacked_bar_chart(
    *,
    title: str,
    buckets: list[datetime],
    step: timedelta,
    series: dict[str, list[float]],
    unit: str = "",
) -> str:
    """One bar per time bucket (``buckets[i]`` to ``buckets[i] + step``), the series stacked in order.

    Counts: the y axis has whole-number ticks. Each bar's total is printed above it when there is room,
    and each segment says its time, series and value in a tooltip.
    """
    totals = [sum(points[i] for points in series.values()) for i in range(len(buckets))]
    legend = [(name, _color(name, index)) for index, name in enumerate(series)]  # colours by the series' code
    start = buckets[0]
    end = buckets[-1] + step
    frame = _Frame(title=title, start=start, end=end, ticks=y_ticks(max(totals, default=0)), unit=unit, legend=legend)
    slot = frame.plot_w / len(buckets)
    bar = max(1.0, slot * 0.7)
    if not any(totals):
        frame.empty()
    for i, moment in enumerate(buckets):
        x = frame.x(moment) + slot / 2
        y = frame.baseline
        for (name, color), points in zip(legend, series.values(), strict=True):
            h = frame.baseline - frame.y(points[i])
            if h <= 0:
                continue
            y -= h
            frame.parts.append(
                f'<rect x="{x - bar / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{color}">'
                f"<title>{escape(moment_format(moment))} {escape(name)}: {_number(points[i])}{escape(unit)}</title>"
                "</rect>"
            )
        if totals[i] and slot >= 22:
            frame.parts.append(f'<text x="{x:.1f}" y="{y - 3:.1f}" text-anchor="middle">{_number(totals[i])}</text>')
    return frame.markup()
