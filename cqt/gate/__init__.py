"""The ALT-5 / ALT-6 acceptance gates (docs/design.md §7): profiles, evidence, verdicts, matrix and reports.

`features/*.feature` state every gate item in Gherkin; `tests/acceptance/` binds the steps to the
functions here; `cqt gate` (runner.py) runs that suite under pytest-bdd and writes `reports/`. A gate
ends PASS (evidence printed), FAIL (verified broken, with the failure guide) or PENDING (a named
precondition is missing: no database, no real Coinglass key, too little bot run time).
"""
