"""Test helpers shipped with promptlsp (usable by its tests, benchmarks and e2e runs)."""
