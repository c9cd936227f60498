"""Charts drawn on the server as inline SVG: readable without JavaScript, printable, no library."""

from __future__ import annotations

from datetime import date, timedelta

from markupsafe import Markup, escape

from scoring.points import fmt


def _nice_step(span: float) -> float:
    """A round tick step (1, 2, 5 × 10^n) giving four to six ticks over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / 5
    mag = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1.0
    for mult in (1, 2, 5, 10):
        if mag * mult >= raw:
            return mag * mult
    return mag * 10


def balance_chart(opening: int, series: list[tuple[date, int]], start: date, end: date, today: date,
                  title: str, month_labels: list[str], unit: str = "") -> Markup:
    """The balance over a year as a stepped line with its area, month ticks and a today marker.

    ``series`` holds (day, balance after that day) for days with entries; amounts are hundredths.
    """
    width, height = 420, 240
    left, right, top, bottom = 44, 10, 12, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    total_days = max(1, (end - start).days + 1)
    last_day = min(today, end)
    points = [(start, opening)] + [(d, v) for d, v in series if start <= d <= end]
    values = [v / 100 for _, v in points]
    lo, hi = min(0.0, *values), max(0.0, *values)
    if hi - lo < 1:
        hi = lo + 10
    step = _nice_step(hi - lo)
    lo_t = step * (lo // step)
    hi_t = step * -(-hi // step)

    def x(d: date) -> float:
        return left + plot_w * ((d - start).days / total_days)

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - lo_t) / (hi_t - lo_t))

    parts: list[str] = []
    parts.append(f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title chart-desc" '
                 f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">')
    last_value = points[-1][1]
    parts.append(f'<title id="chart-title">{escape(title)}</title>')
    parts.append(f'<desc id="chart-desc">{escape(fmt(opening))} → {escape(fmt(last_value))} {escape(unit)}</desc>')
    tick = lo_t
    while tick <= hi_t + 1e-9:
        ty = y(tick)
        parts.append(f'<line class="grid" x1="{left}" y1="{ty:.1f}" x2="{width - right}" y2="{ty:.1f}"/>')
        label = f"{tick:g}"
        parts.append(f'<text class="ylab" x="{left - 6}" y="{ty + 5:.1f}" text-anchor="end">{escape(label)}</text>')
        tick += step
    for m in range(12):
        md = date(start.year, m + 1, 1)
        if md > end:
            break
        mx = x(md)
        parts.append(f'<line class="mtick" x1="{mx:.1f}" y1="{top + plot_h}" x2="{mx:.1f}" y2="{top + plot_h + 5}"/>')
        if m % 2 == 0:  # every other month: the labels stay readable on a phone
            parts.append(f'<text class="xlab" x="{mx + plot_w / 24:.1f}" y="{height - 8}" text-anchor="middle">{escape(month_labels[m])}</text>')
    # The stepped path: the balance holds until the next day with entries.
    path = [f"M{x(start):.1f},{y(opening / 100):.1f}"]
    prev = opening
    for d, v in points[1:]:
        path.append(f"H{x(d):.1f}V{y(v / 100):.1f}")
        prev = v
    end_x = x(last_day + timedelta(days=1)) if last_day >= start else x(start)
    path.append(f"H{end_x:.1f}")
    line = "".join(path)
    base_y = y(max(lo_t, min(0.0, hi_t)))
    parts.append(f'<path class="area" d="{line}V{base_y:.1f}H{x(start):.1f}Z"/>')
    parts.append(f'<path class="line" d="{line}"/>')
    if start <= today <= end:
        tx = x(today)
        parts.append(f'<line class="today" x1="{tx:.1f}" y1="{top}" x2="{tx:.1f}" y2="{top + plot_h}"/>')
        parts.append(f'<circle class="dot" cx="{end_x:.1f}" cy="{y(prev / 100):.1f}" r="5"/>')
    parts.append(f'<line class="axis" x1="{left}" y1="{y(0):.1f}" x2="{width - right}" y2="{y(0):.1f}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def monthly_balances(opening: int, series: list[tuple[date, int]], year: int, today: date) -> list[tuple[int, int]]:
    """(month, balance at the month's end) up to today: the chart as a table for screen readers and print."""
    out = []
    running = opening
    it = iter(series)
    pending = next(it, None)
    for m in range(1, 13):
        month_end = date(year + 1, 1, 1) - timedelta(days=1) if m == 12 else date(year, m + 1, 1) - timedelta(days=1)
        if date(year, m, 1) > today:
            break
        while pending is not None and pending[0] <= month_end:
            running = pending[1]
            pending = next(it, None)
        out.append((m, running))
    return out
