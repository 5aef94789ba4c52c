"""`upsell demo` (what `make demo` runs): its own embedded broker, a worker, a
simulated product; offers printed as they fire; a summary; a clean exit."""

from __future__ import annotations

import re
import subprocess
import sys

from streams.broker import free_port
from tests.factories import ROOT

OFFER_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d acct-\d+ (upsell|cross_sell|down_sell) .+\[([\w.-]+)\]$")
# The example rules' moments of time and segment (examples/saas-rules.yaml).
TIMED_AND_SEGMENTS = {"renewal-60", "tenure-3-6-months", "seats-growth", "seats-forecast",
                      "payroll-accounting", "seats-collapse", "quiet-21-days"}


def test_demo_prints_offers_and_a_summary_and_exits_cleanly() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "demo", "--duration", "10", "--accounts", "100",
         "--rate", "400", "--web-port", str(free_port())],
        capture_output=True, cwd=ROOT, timeout=150,
    )
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert "Traceback" not in out + done.stderr.decode()
    assert "[worker ready after" in out
    offers = [line for line in out.splitlines() if OFFER_LINE.match(line)]
    assert "--clock event" in out  # the banner says which clock the worker runs
    published = re.search(r"^offers published: (\d+)$", out, re.MULTILINE)
    consumed = re.search(r"^events consumed: (\d+)  \(invalid, sent to the DLQ: (\d+)\)$", out,
                         re.MULTILINE)
    assert published is not None and consumed is not None, out[-2000:]
    assert 0 < len(offers) <= int(published.group(1))
    assert int(consumed.group(1)) > 1000 and int(consumed.group(2)) > 0  # some events are broken
    # About 25 simulated days: the renewals, tenure windows and payroll teams of
    # the first day, and the spurts, forecasts and collapses of the first weeks.
    shown = {match.group(2) for line in offers if (match := OFFER_LINE.match(line))}
    assert len(shown & TIMED_AND_SEGMENTS) >= 4, shown
    # It ends with the outcome report, read from the outcomes topic.
    report = out[out.index("--- outcome report"):]
    assert "(all triggers)" in report and "lift (95% CI)" in report
    total = next(line for line in report.splitlines() if line.startswith("(all triggers)"))
    assert int(total.split()[2]) >= int(published.group(1)), total  # fired: offered + held out
