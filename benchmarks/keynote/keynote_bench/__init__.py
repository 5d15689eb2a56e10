"""The keynote transfer benchmark: peers, process management and orchestration for benchmarks/keynote.py."""
