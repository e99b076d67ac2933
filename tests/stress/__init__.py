"""Stress runs against a launched app: the bad-input corpus and the load test (see docs/RELIABILITY.md)."""
