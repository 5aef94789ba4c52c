"""Benchmarks that print figures (not tests): `make bench` (bench_engine.py) and
`make bench-core` (bench_core.py).

  workload.py      the events every benchmark sends (make_events: the setup of
                   every account, then traffic that exercises every kind of the
                   example rules) and what the decision core makes of them offline
  rules/           before-time.yaml: the example rules before issue 8, run beside
                   the current ones to measure what the new kinds cost

The core benchmark (bench_core.py) measures the decision core alone, and uses:

  state_size.py    bytes per account: the encoded state and its changelog record
  sweep.py         the sweep's cost with a fixed number of accounts due among many
                   that are not, and reschedule (restore) per account

The engine benchmark is split by role:

  harness.py       the broker and topics of a run, the child processes engines run
                   in, producing, and measuring CPU, RSS and percentiles
  phases.py        one function per phase (and its child side): prefill, ceiling,
                   engine xN, restore, latency; each returns its figures as JSON data
  report.py        the table, from those figures (`python -m bench.report FILE`
                   re-prints a run saved with `bench_engine.py --json FILE`)
  bench_engine.py  the command line: runs the phases in order and prints the report
  child.py         the entry point of a child process (`python -m bench.child`)
"""
