"""`python -m cqt.bot`: the supervised collection, bar, prediction and settlement process (see daemon)."""
