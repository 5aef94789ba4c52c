"""Benchmarks that print figures (not tests): `make bench` (bench_engine.py) and
`make bench-core` (bench_core.py).

The engine benchmark is split by role:

  workload.py      the events it sends (bench_core.make_events) and what the
                   decision core makes of them offline
  harness.py       the broker and topics of a run, the child processes engines run
                   in, producing, and measuring CPU, RSS and percentiles
  phases.py        one function per phase (and its child side): prefill, ceiling,
                   engine xN, restore, latency; each returns its figures as JSON data
  report.py        the table, from those figures (`python -m bench.report FILE`
                   re-prints a run saved with `bench_engine.py --json FILE`)
  bench_engine.py  the command line: runs the phases in order and prints the report
  child.py         the entry point of a child process (`python -m bench.child`)
"""
