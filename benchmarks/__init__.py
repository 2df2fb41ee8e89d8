"""The benchmark suite of the course server: `make bench` or `python -m benchmarks.run` (see README.md)."""
