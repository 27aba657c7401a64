"""Benchmarks behind ``semcorr bench``: each returns a JSON-serialisable dict of measured figures."""
