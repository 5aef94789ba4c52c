"""`--html FILE` (streams/cli/report_html.py): the page parses as HTML, holds the
report's table and a conversion chart and a funnel per trigger with the figures of
a known report, and loads nothing from outside (no script, no external link)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from click.testing import CliRunner

from streams.cli.main import main
from streams.cli.report import TOTAL, Report
from streams.cli.report_html import render_html
from tests.factories import EXAMPLE_RULES
from tests.streams.kafka_helpers import EXAMPLE_EVENTS
from tests.streams.test_report import outcome

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source"}


class Page(HTMLParser):
    """What a reader sees: table rows by trigger, each chart section's charts and their
    text; and whether every element is closed in order."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.open: list[str] = []
        self.unbalanced: list[str] = []
        self.rows: dict[str, list[str]] = {}
        self.charts: dict[str, list[str]] = {}  # trigger -> the text of each chart
        self.outside: list[str] = []  # attributes that would load something
        self.tags: set[str] = set()
        self._row: str | None = None
        self._section: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, dict(attrs))
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, dict(attrs))

    def _start(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.tags.add(tag)
        self.outside.extend(f"{name}={value}" for name, value in attrs.items()
                            if name in ("src", "href", "xlink:href", "data") and value
                            and not value.startswith("#"))
        trigger = attrs.get("data-trigger")
        if tag == "tr" and trigger:
            self._row = trigger
            self.rows[trigger] = []
        elif tag == "section" and trigger:
            self._section = trigger
            self.charts[trigger] = []
        elif tag == "svg" and self._section is not None:
            self.charts[self._section].append("")

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.unbalanced.append(tag)
            return
        self.open.pop()
        if tag == "tr":
            self._row = None
        elif tag == "section":
            self._section = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self.open[-1] == "td":
            self.rows[self._row].append(data)
        elif self._section is not None and self.charts[self._section] and "svg" in self.open:
            self.charts[self._section][-1] += data + "\n"


def known_report() -> Report:
    """seats-80: 40 offered, 10 shown, 4 accepted, 8 converted at 30 MRR; 40 held out, 2
    converted. promoter: one offer."""
    return Report.of([
        *(outcome(f"o{i}", "made") for i in range(40)),
        *(outcome(f"o{i}", "shown") for i in range(10)),
        *(outcome(f"o{i}", "accepted") for i in range(4)),
        *(outcome(f"o{i}", "converted", mrr=30.0) for i in range(8)),
        *(outcome(f"h{i}", "held_out", group="held_out") for i in range(40)),
        *(outcome(f"h{i}", "converted", group="held_out", mrr=30.0) for i in range(2)),
        outcome("p", "made", trigger="promoter"),
    ])


def test_the_page_shows_a_known_reports_table_and_charts() -> None:
    report = known_report()
    page = Page(render_html(report, "a test", "2026-12-02 10:00 UTC"))
    assert page.unbalanced == [] and page.open == []
    # The table: the terminal's cells, row by row.
    assert page.rows == {row[0]: list(row) for row in report.rows()[1:]}
    assert page.rows["seats-80"][:8] == ["seats-80", "80", "40", "10", "4", "0", "0", "8"]
    assert page.rows["seats-80"][8:11] == ["20.0% (10.5%-34.8%)", "5.0% (1.4%-16.5%)",
                                           "+15.0% (+0.1% to +30.2%)"]  # by hand: .15 -+ .149, .152
    assert page.rows["seats-80"][11] == "240"
    # A conversion chart and a funnel per trigger, and for all of them.
    assert set(page.charts) == {"promoter", "seats-80", TOTAL}
    assert all(len(charts) == 2 for charts in page.charts.values())
    conversion, funnel = page.charts["seats-80"]
    assert "offered (40)" in conversion and "held out (40)" in conversion
    assert "20.0%" in conversion.split() and "5.0%" in conversion.split()
    for stage, count in [("fired", "80"), ("offered", "40"), ("shown", "10"),
                         ("accepted", "4"), ("converted", "8")]:
        assert stage in funnel.split() and count in funnel.split()


def test_the_page_loads_nothing_from_outside_and_runs_no_script() -> None:
    text = render_html(known_report(), "a test", "now")
    page = Page(text)
    assert page.outside == []
    assert not page.tags & {"script", "link", "iframe", "img", "object", "embed"}
    assert "@import" not in text and "url(" not in text


def test_the_same_figures_make_the_same_page() -> None:
    assert render_html(known_report(), "a", "now") == render_html(known_report(), "a", "now")


def test_replay_report_html_writes_the_page_beside_the_table(tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["replay", "--rules", str(EXAMPLE_RULES), "--html",
                                       str(html), str(EXAMPLE_EVENTS)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("trigger ")  # --html implies --report: the table too
    assert f"wrote {html}" in result.stderr
    page = Page(html.read_text())
    table_triggers = [line.split()[0] for line in result.stdout.splitlines()[2:-4]]
    assert sorted(page.charts) == sorted([*table_triggers, TOTAL])
    assert len(page.charts) > 10 and all(len(c) == 2 for c in page.charts.values())
    assert page.rows[TOTAL][1] == "23"  # decisions in the shipped sample


def test_an_unwritable_html_path_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["replay", "--rules", str(EXAMPLE_RULES), "--html",
                                       str(tmp_path / "missing" / "r.html"), str(EXAMPLE_EVENTS)])
    assert result.exit_code == 1
    assert "cannot write" in result.stderr and "No such file" in result.stderr
