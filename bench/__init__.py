"""Benchmarks (`make bench`, `make chaos`): each beside the bare component it is built on."""

import os

# The bench runs PostgreSQL and Redis deployments as the demo shop: not production.
os.environ.setdefault("LADDER_ENV", "development")
