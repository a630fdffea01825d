"""Pipeline checks: diagnostics that can fail, run by the ALT gates as ``run_pipeline_checks.sh``.

Four checks, each ``python -m cqt.checks.<name> --window N [--json] [--symbol S]`` and ``cqt check <name>``:

* :mod:`cqt.checks.altdata`: every collected stream is current (lag on the event and the local clock),
  complete (fill against its cadence), has no open gap and few reconnects.
* :mod:`cqt.checks.feature`: null rates and value ranges of ``market_1s`` and ``predictions``.
* :mod:`cqt.checks.leak`: a point-in-time audit that recomputes stored features from the raw tables.
* :mod:`cqt.checks.coinglass`: Coinglass is enabled, keyed, answering ``ok`` and delivering series rows.

Exit codes: 0 PASS, 1 FAIL, 2 could not run (the database is unreachable; the message says how to fix it).
"""
