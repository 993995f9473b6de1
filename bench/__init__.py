"""cxloop benchmarks: `make bench` (python -m bench)."""
