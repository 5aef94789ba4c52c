"""`--html FILE`: the report as one page to share with the growth team.

The report's table (the same cells as the terminal's) and, per trigger and in
total, two charts: the conversion rate of the offered and of the held-out
group with their 95% intervals (what the lift is made of), and the funnel
fired, offered, shown, accepted, converted. Charts are pygal's SVG, inlined;
the page is a jinja2 template with autoescaping. No script and no external
asset: the file opens offline, from a mail attachment or a shared drive.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pygal
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from pygal.style import Style

from streams.cli.report import Report, TriggerFigures, show_lift

OFFERED, HELD_OUT = "#2f6fdf", "#9aa5b8"
STYLE = Style(
    font_family='system-ui, -apple-system, "Segoe UI", sans-serif',
    background="white", plot_background="white", foreground="#1d2330",
    foreground_strong="#1d2330", foreground_subtle="#5a6475", colors=(OFFERED, HELD_OUT),
    title_font_size=15, label_font_size=12, major_label_font_size=12, value_font_size=12,
    legend_font_size=12,
)
# What every chart shares: no tooltip script (pygal's comes from a web address), so
# the values are printed on the bars instead.
CHART = dict(style=STYLE, js=[], disable_xml_declaration=True, width=520, height=300,
             print_values=True, show_legend=False, margin=16)

_TEMPLATES = Environment(loader=PackageLoader("streams.cli", "templates"),
                         autoescape=select_autoescape(), trim_blocks=True, lstrip_blocks=True)


def render_html(report: Report, source: str, generated: str) -> str:
    """The page: `source` says where the outcomes came from, `generated` when."""
    summary = report.summary()
    by_trigger = {figures["trigger"]: figures for figures in summary["triggers"]}
    sections = [_section(i, report.triggers[trigger], by_trigger[trigger])
                for i, trigger in enumerate(sorted(report.triggers))]
    sections.append(_section(len(sections), report.total, summary["total"]))
    rows = report.rows()
    return _TEMPLATES.get_template("report.html").render(
        source=source, generated=generated, rules_versions=summary["rules_versions"],
        header=rows[0], rows=rows[1:-1], total=rows[-1], notes=report.notes(),
        sections=sections,
    )


def write_html(report: Report, path: Path, source: str, generated: str) -> None:
    path.write_text(render_html(report, source, generated), encoding="utf-8")


def _section(index: int, figures: TriggerFigures, summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "trigger": figures.trigger,
        "lift": show_lift(summary["lift"]),
        "charts": [_conversion_chart(f"{index}-conversion", figures, summary),
                   _funnel_chart(f"{index}-funnel", figures)],
    }


def _conversion_chart(chart_id: str, figures: TriggerFigures, summary: dict[str, Any]) -> Markup:
    chart = pygal.Bar(title="Conversion rate, 95% interval", range=(0, 1),
                      value_formatter=_percent, **CHART)
    chart.x_labels = [f"offered ({figures.offered})", f"held out ({figures.held_out})"]
    chart.add("conversion", [_rate_bar(summary["conversion_rate"], OFFERED),
                             _rate_bar(summary["held_out_conversion_rate"], HELD_OUT)])
    return _svg(chart, chart_id)


def _funnel_chart(chart_id: str, figures: TriggerFigures) -> Markup:
    stages = [("fired", figures.fired), ("offered", figures.offered),
              ("shown", figures.shown), ("accepted", figures.accepted),
              ("converted", figures.converted)]
    chart = pygal.HorizontalBar(title="Funnel: decisions, then the offered group",
                                value_formatter=_count, y_labels=_ticks(figures.fired), **CHART)
    chart.x_labels = [name for name, _ in reversed(stages)]  # pygal draws bottom up
    chart.add("offers", [count for _, count in reversed(stages)])
    return _svg(chart, chart_id)


def _rate_bar(rate: dict[str, Any] | None, color: str) -> dict[str, Any] | None:
    """A bar with its interval; none (no decisions in the group) leaves a gap."""
    if rate is None:
        return None
    low, high = rate["ci95"]
    return {"value": rate["value"], "ci": {"low": low, "high": high}, "color": color}


def _svg(chart: pygal.Graph, chart_id: str) -> Markup:
    chart.uuid = chart_id  # a stable id (pygal draws a random one), unique in the page
    chart.add_xml_filter(_inert)
    return Markup(chart.render(is_unicode=True))


def _inert(root: Any) -> Any:
    """The chart without pygal's inline script (its config, for a tooltip script the page
    does not load) and its comments (one is today's date): a page with no script, and the
    same page for the same figures."""
    for parent in root.iter():
        for child in list(parent):
            if not isinstance(child.tag, str) or child.tag.rpartition("}")[2] == "script":
                parent.remove(child)  # comments' tags are functions, not names
    return root


def _ticks(top: int, most: int = 6) -> list[int]:
    """Whole-number ticks from 0 past `top` (pygal's own would read 0, 0, 0, 1, 1 at small
    counts)."""
    step = max(1, math.ceil(top / (most - 1)))
    return list(range(0, max(top, 1) + step, step))


def _percent(value: float) -> str:
    return f"{value:.1%}"


def _count(value: float) -> str:
    return f"{value:,.0f}"
