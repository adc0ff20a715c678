"""Helpers and data for the real-program tests (tests/test_real_*.py)."""
