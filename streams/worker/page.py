"""The status page at `/`: what ops want at a glance, from the numbers /status
serves (readiness, rules version, lag, events, dead letters, offers by trigger)
and the recent minutes (streams/worker/history.py).

Server-rendered HTML that refreshes itself (meta refresh): no script, no
external asset (inline CSS, inline SVG bars), so it works on a locked-down
network and behind any proxy. Counts only: trigger ids and the rules version
come from the rules file, never from an event. Each number a test or a person
may want to read is marked `data-stat` (and `data-trigger` for a trigger's).
It is one small page, so string templates: a template engine would not earn
its place.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

import faust
from faust.web import Request, Response, View

from streams.runtime.loop import Engine
from streams.worker.history import HistorySampler, Minute, MinuteHistory, Totals

#: Seconds between refreshes: the sampler's interval, so each refresh can show something new.
REFRESH_S = 5


@dataclass(frozen=True)
class PageView:
    """Everything the page shows, read at one moment."""

    ready: bool
    rules_version: str
    partitions: Sequence[int]
    lag: Mapping[int, int]  # partition -> records
    totals: Totals
    triggers: Sequence[str]  # in rules order; offers may name others (older rules)
    events_per_second: float | None
    minutes: Sequence[Minute]
    uptime_s: float


def add_status_page(app: faust.App, engine: Engine, ready: Callable[[], bool]) -> None:
    """Serve the page at `/` and keep its history; `ready`: what /readyz says."""
    history = MinuteHistory()
    app.service(HistorySampler(history, lambda: Totals.of(engine.metrics)))  # type: ignore[arg-type]

    @app.page("/")
    async def status_page(web: View, request: Request) -> Response:
        engine.refresh_gauges()
        now, totals = time.time(), Totals.of(engine.metrics)
        history.observe(now, totals)
        return web.html(render_status_page(PageView(
            ready=ready(),
            rules_version=engine.book.version,
            partitions=sorted(engine.stores),
            lag=dict(engine.metrics.lag),
            totals=totals,
            triggers=[trigger.id for trigger in engine.book.rules.triggers],
            events_per_second=history.events_per_second(now, totals),
            minutes=history.minutes(now, totals),
            uptime_s=now - engine.metrics.started_at,
        )), headers={"Cache-Control": "no-store"})


def render_status_page(view: PageView) -> str:
    totals, minutes = view.totals, view.minutes
    state = "ready" if view.ready else "starting"
    rate = "-" if view.events_per_second is None else f"{view.events_per_second:,.1f}"
    lag_total = sum(view.lag.values())
    lag_detail = _lag_detail(view.lag)
    triggers = list(view.triggers) + sorted(set(totals.offers) - set(view.triggers))
    recent_offers = {t: sum(m.offers.get(t, 0) for m in minutes) for t in triggers}
    offer_rows = "\n".join(
        f'<tr><th scope="row"><code>{escape(t)}</code></th>'
        f"<td>{_bars([None if m.events is None else m.offers.get(t, 0) for m in minutes], minutes)}</td>"
        f"<td>{recent_offers[t]:,}</td>"
        f'<td data-stat="offers_by_trigger" data-trigger="{escape(t)}">{totals.offers.get(t, 0):,}</td>'
        f"</tr>"
        for t in triggers
    ) or '<tr><td colspan="4">no triggers in the rules</td></tr>'
    events = [m.events for m in minutes]
    dead = [m.dead_letters for m in minutes]
    offers_per_minute = [None if m.events is None else sum(m.offers.values()) for m in minutes]
    window = f"{len(minutes)} min"
    return _PAGE.format(
        refresh=REFRESH_S, state=state, state_text="Ready" if view.ready else "Starting",
        rules_version=escape(view.rules_version),
        partitions=", ".join(map(str, view.partitions)) or "none yet",
        uptime=_duration(view.uptime_s), css=_CSS,
        events=f"{totals.events:,}", rate=rate, lag=f"{lag_total:,}", lag_detail=lag_detail,
        dead=f"{totals.dead_letters:,}", offers=f"{sum(totals.offers.values()):,}",
        window=window, since=_clock(minutes[0].start) if minutes else "",
        events_bars=_bars(events, minutes), events_recent=f"{_sum(events):,}",
        offers_bars=_bars(offers_per_minute, minutes), offers_recent=f"{_sum(offers_per_minute):,}",
        dead_bars=_bars(dead, minutes, "dead"), dead_recent=f"{_sum(dead):,}",
        offer_rows=offer_rows,
    )


def _bars(values: Sequence[int | None], minutes: Sequence[Minute], kind: str = "") -> str:
    """An inline SVG bar per minute, scaled to the largest, on a baseline (pale where
    the minute has no data: before the worker started)."""
    width, height, gap = 8, 24, 2
    peak = max((v for v in values if v), default=0)
    rects = []
    for i, (value, minute) in enumerate(zip(values, minutes, strict=True)):
        x = i * (width + gap)
        base = "base" if value is not None else "base none"
        rects.append(f'<rect class="{base}" x="{x}" y="{height - 1}" width="{width}" height="1"/>')
        if value:
            bar = max(1, round(height * value / peak))
            rects.append(f'<rect x="{x}" y="{height - bar}" width="{width}" height="{bar}">'
                         f"<title>{_clock(minute.start)}: {value:,}</title></rect>")
    total_width = max(1, len(values) * (width + gap) - gap)
    return (f'<svg class="bars {kind}" width="{total_width}" height="{height}" '
            f'viewBox="0 0 {total_width} {height}" role="img">{"".join(rects)}</svg>')


def _lag_detail(lag: Mapping[int, int]) -> str:
    if not lag:
        return "no partition committed yet"
    if len(lag) <= 4:
        return ", ".join(f"p{p}: {n:,}" for p, n in sorted(lag.items()))
    partition, most = max(lag.items(), key=lambda item: (item[1], -item[0]))
    return f"{len(lag)} partitions, most on p{partition}: {most:,}"


def _sum(values: Sequence[int | None]) -> int:
    return sum(v for v in values if v)


def _clock(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%H:%M UTC")


def _duration(seconds: float) -> str:
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{int(seconds)} s"


_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f4f6f9;
color:#1c2330}
header{display:flex;flex-wrap:wrap;gap:8px 18px;align-items:center;padding:16px 24px;
background:#1c2330;color:#f4f6f9}
header h1{font-size:19px;margin:0 8px 0 0}
header code{background:#2d3646;padding:1px 6px;border-radius:4px}
main{padding:20px 24px}
.badge{font-weight:600;padding:3px 10px;border-radius:999px}
.badge.ready{background:#1f9d55;color:#fff}
.badge.starting{background:#d97706;color:#fff}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:12px}
.tile{background:#fff;border:1px solid #dce1e8;border-radius:8px;padding:12px 16px}
.tile .label{color:#5a6475;font-size:13px}
.tile .n{font-size:30px;font-weight:650;font-variant-numeric:tabular-nums}
.tile .sub{color:#5a6475;font-size:12px}
h2{font-size:16px;margin:26px 0 8px}
table{border-collapse:collapse;background:#fff;border:1px solid #dce1e8;border-radius:8px}
th,td{padding:6px 14px;text-align:left;border-bottom:1px solid #edf0f4;
font-variant-numeric:tabular-nums}
thead th{color:#5a6475;font-weight:500;font-size:13px}
svg.bars rect{fill:#3566d6}
svg.bars.dead rect{fill:#c2413a}
svg.bars rect.base{fill:#c5ccd8}
svg.bars rect.none{fill:#e6e9ef}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,max-content));gap:0 28px}
footer{color:#5a6475;font-size:12px;padding:0 24px 20px}
a{color:#3566d6}
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{refresh}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>upsell worker: {state_text}</title>
<style>{css}</style>
</head>
<body>
<header>
<h1>upsell worker</h1>
<span class="badge {state}" data-stat="ready" data-value="{state}">{state_text}</span>
<span>rules <code data-stat="rules_version">{rules_version}</code></span>
<span>partitions {partitions}</span>
<span>up {uptime}</span>
</header>
<main>
<section class="tiles">
<div class="tile"><div class="label">Events processed</div>
<div class="n" data-stat="events">{events}</div><div class="sub">since start, dead-lettered too</div></div>
<div class="tile"><div class="label">Throughput</div>
<div class="n" data-stat="events_per_second">{rate}</div><div class="sub">events/s, last minute</div></div>
<div class="tile"><div class="label">Consumer lag</div>
<div class="n" data-stat="lag">{lag}</div><div class="sub">records ({lag_detail})</div></div>
<div class="tile"><div class="label">Dead-lettered</div>
<div class="n" data-stat="invalid_events">{dead}</div><div class="sub">invalid events, since start</div></div>
<div class="tile"><div class="label">Offers</div>
<div class="n" data-stat="offers">{offers}</div><div class="sub">since start</div></div>
</section>
<div class="cols"><section>
<h2>Last {window} (per minute, from {since})</h2>
<table>
<thead><tr><th></th><th>per minute</th><th>last {window}</th></tr></thead>
<tbody>
<tr><th scope="row">Events</th><td>{events_bars}</td><td>{events_recent}</td></tr>
<tr><th scope="row">Offers</th><td>{offers_bars}</td><td>{offers_recent}</td></tr>
<tr><th scope="row">Dead-lettered</th><td>{dead_bars}</td><td>{dead_recent}</td></tr>
</tbody>
</table>
</section><section>
<h2>Offers by trigger</h2>
<table>
<thead><tr><th>trigger</th><th>per minute</th><th>last {window}</th><th>since start</th></tr></thead>
<tbody>
{offer_rows}
</tbody>
</table>
</section></div>
</main>
<footer>Refreshes every {refresh} s. Counts only, no customer data.
The same numbers as JSON: <a href="/status">/status</a>; for Prometheus: <a href="/metrics">/metrics</a>.
</footer>
</body>
</html>
"""
