"""Quire's benchmarks: `make bench` (`python -m bench`) and `make bench-lists`."""
