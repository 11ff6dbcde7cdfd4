"""Data-quality suites of the corpus (Great Expectations 1.x)."""
