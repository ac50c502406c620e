"""The stackio benchmark harness: writes its data, runs each scenario for stackio and its baselines
interleaved in one run, and reports medians and ratios (see docs/benchmarks.md)."""
