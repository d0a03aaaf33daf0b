"""Workflows decide: deterministic code only (no I/O, clock, randomness or environment)."""
