"""Privacy requests: exports and erasure."""
