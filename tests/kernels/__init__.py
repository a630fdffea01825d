"""Tests of the Rust bar and label kernels against slow pure-Python references."""
